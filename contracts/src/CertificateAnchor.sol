// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ICertificateAnchor} from "./ICertificateAnchor.sol";
import {IDepartmentRegistry, Roles} from "./IDepartmentRegistry.sol";
import {Sha256Merkle} from "./Sha256Merkle.sol";

/// @title CertificateAnchor
/// @notice Anchors certificate batch roots for issuer departments and keeps each certificate's status history.
/// A batch costs one storage slot whatever its size; status changes prove the certificate's membership on-chain.
contract CertificateAnchor is ICertificateAnchor {
    IDepartmentRegistry private immutable _registry;

    mapping(bytes32 root => Batch) private _batches;
    mapping(bytes32 digest => StatusChange[]) private _history;

    /// @notice Binds the anchor to the department registry that authorizes issuers.
    /// @param registry_ The department registry.
    constructor(IDepartmentRegistry registry_) {
        _registry = registry_;
    }

    // ----------------------------------------------------------------- writes

    /// @inheritdoc ICertificateAnchor
    function anchorBatch(bytes32 root, uint32 count, bytes32 schema) external {
        if (!_registry.isActiveSigner(msg.sender, Roles.ISSUER)) revert AnchorUnauthorized(msg.sender, Roles.ISSUER);
        if (root == bytes32(0)) revert AnchorZeroRoot();
        if (count == 0) revert AnchorEmptyBatch();
        if (_batches[root].signer != address(0)) revert AnchorRootAlreadyAnchored(root);

        _batches[root] = Batch({
            signer: msg.sender,
            blockNumber: uint32(block.number),
            timestamp: uint32(block.timestamp),
            count: count
        });
        emit BatchAnchored(root, _registry.departmentOf(msg.sender), msg.sender, count, schema);
    }

    /// @inheritdoc ICertificateAnchor
    function revoke(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external {
        bytes32 departmentId = _checkIssuer(root, _callerDepartment());
        _checkProof(root, digest, proof);
        _requireNotTerminal(digest);

        _record(digest, CertStatus.Revoked, reason);
        emit CertificateRevoked(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function suspend(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external {
        bytes32 departmentId = _checkIssuer(root, _callerDepartment());
        _checkProof(root, digest, proof);
        CertStatus status = _requireNotTerminal(digest);
        if (status == CertStatus.Suspended) revert AnchorCertificateAlreadySuspended(digest);

        _record(digest, CertStatus.Suspended, reason);
        emit CertificateSuspended(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function reinstate(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external {
        bytes32 departmentId = _checkIssuer(root, _callerDepartment());
        _checkProof(root, digest, proof);
        CertStatus status = _requireNotTerminal(digest);
        if (status != CertStatus.Suspended) revert AnchorCertificateNotSuspended(digest);

        _record(digest, CertStatus.Valid, reason);
        emit CertificateReinstated(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function supersede(
        bytes32 oldRoot,
        bytes32 oldDigest,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newDigest,
        bytes32[] calldata newProof
    ) external {
        if (oldDigest == newDigest) revert AnchorSelfSupersede(oldDigest);
        bytes32 departmentId = _callerDepartment();
        _checkIssuer(oldRoot, departmentId);
        _checkIssuer(newRoot, departmentId);
        _checkProof(oldRoot, oldDigest, oldProof);
        _checkProof(newRoot, newDigest, newProof);
        _requireNotTerminal(oldDigest);
        _requireNotTerminal(newDigest);

        _record(oldDigest, CertStatus.Superseded, newDigest);
        emit CertificateSuperseded(oldDigest, newDigest, departmentId, newRoot);
    }

    // ----------------------------------------------------------------- views

    /// @inheritdoc ICertificateAnchor
    function registry() external view returns (IDepartmentRegistry) {
        return _registry;
    }

    /// @inheritdoc ICertificateAnchor
    function batch(bytes32 root)
        external
        view
        returns (bytes32 departmentId, address signer, uint32 blockNumber, uint32 timestamp, uint32 count)
    {
        Batch memory b = _batches[root];
        if (b.signer == address(0)) return (bytes32(0), address(0), 0, 0, 0);
        return (_registry.departmentOf(b.signer), b.signer, b.blockNumber, b.timestamp, b.count);
    }

    /// @inheritdoc ICertificateAnchor
    function statusOf(bytes32 digest)
        external
        view
        returns (CertStatus status, uint32 blockNumber, uint32 timestamp, bytes32 detail)
    {
        StatusChange[] storage history = _history[digest];
        if (history.length == 0) return (CertStatus.Valid, 0, 0, bytes32(0));
        StatusChange storage last = history[history.length - 1];
        return (last.status, last.blockNumber, last.timestamp, last.detail);
    }

    /// @inheritdoc ICertificateAnchor
    function statusAt(bytes32 digest, uint64 timestamp) external view returns (CertStatus) {
        StatusChange[] storage history = _history[digest];
        for (uint256 i = history.length; i > 0; --i) {
            StatusChange storage change = history[i - 1];
            if (change.timestamp <= timestamp) return change.status;
        }
        return CertStatus.Valid;
    }

    /// @inheritdoc ICertificateAnchor
    function statusHistory(bytes32 digest) external view returns (StatusChange[] memory) {
        return _history[digest];
    }

    /// @inheritdoc ICertificateAnchor
    function version() external pure returns (string memory) {
        return "1.0.0";
    }

    // ----------------------------------------------------------------- internals

    /// @dev Department of the caller, who must be the current key of an active issuer department.
    function _callerDepartment() private view returns (bytes32) {
        if (!_registry.isActiveSigner(msg.sender, Roles.ISSUER)) revert AnchorUnauthorized(msg.sender, Roles.ISSUER);
        return _registry.departmentOf(msg.sender);
    }

    /// @dev Reverts unless `root` is anchored by a key of `callerDepartment`; returns that department.
    function _checkIssuer(bytes32 root, bytes32 callerDepartment) private view returns (bytes32) {
        address signer = _batches[root].signer;
        if (signer == address(0)) revert AnchorUnknownRoot(root);
        bytes32 issuingDepartment = _registry.departmentOf(signer);
        if (issuingDepartment != callerDepartment) {
            revert AnchorNotIssuingDepartment(callerDepartment, issuingDepartment);
        }
        return issuingDepartment;
    }

    function _checkProof(bytes32 root, bytes32 digest, bytes32[] calldata proof) private pure {
        if (!Sha256Merkle.verify(proof, root, digest)) revert AnchorInvalidProof(root, digest);
    }

    /// @dev Current status of `digest`, reverting when it is terminal.
    function _requireNotTerminal(bytes32 digest) private view returns (CertStatus status) {
        StatusChange[] storage history = _history[digest];
        if (history.length == 0) return CertStatus.Valid;
        StatusChange storage last = history[history.length - 1];
        status = last.status;
        if (status == CertStatus.Revoked) revert AnchorCertificateRevoked(digest);
        if (status == CertStatus.Superseded) revert AnchorCertificateSuperseded(digest, last.detail);
    }

    function _record(bytes32 digest, CertStatus status, bytes32 detail) private {
        _history[digest].push(
            StatusChange({
                status: status,
                blockNumber: uint32(block.number),
                timestamp: uint32(block.timestamp),
                detail: detail
            })
        );
    }
}
