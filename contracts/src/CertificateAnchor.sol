// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ICertificateAnchor} from "./ICertificateAnchor.sol";
import {IDepartmentRegistry, Roles} from "./IDepartmentRegistry.sol";
import {Sha256Merkle} from "./Sha256Merkle.sol";

/// @title CertificateAnchor
/// @notice Anchors certificate batch roots for issuer departments and keeps each certificate's status history.
/// A batch costs two storage slots whatever its size (the anchoring, its certificate type), and rewrites the two of
/// its department's anchoring trail (4.2.0); status changes prove the certificate's membership on-chain, and a
/// supersession records the old certificate under its successor (4.3.0).
/// @dev Batches are keyed by (department, root) and statuses by (department, root, digest): a department only
/// ever reads and writes its own namespace, so anchoring a foreign digest or a foreign root gains nothing.
contract CertificateAnchor is ICertificateAnchor {
    /// @inheritdoc ICertificateAnchor
    uint8 public constant MAX_REASON = 12;
    /// @inheritdoc ICertificateAnchor
    bytes10 public constant DIGEST_TAG = "pl-cert/2\x00";

    IDepartmentRegistry private immutable _registry;

    mapping(bytes32 departmentId => mapping(bytes32 root => Batch)) private _batches;
    mapping(bytes32 departmentId => mapping(bytes32 root => mapping(bytes32 digest => StatusChange[]))) private
        _history;
    /// @dev The root under which a department's certificate `digest` ended (revoked or superseded); 0 while live.
    mapping(bytes32 departmentId => mapping(bytes32 digest => bytes32 root)) private _ended;
    /// @dev The root through which a department's certificate `digest` was first suspended; 0 while never. Every
    /// suspension and reinstatement of that digest is made through it, so its history there is the digest's whole.
    mapping(bytes32 departmentId => mapping(bytes32 digest => bytes32 root)) private _held;
    /// @dev Each department's running hash of its status changes: what a reader of its status events checks them
    /// against (red team round 68: a node leaving a revocation out of `eth_getLogs` was believed).
    mapping(bytes32 departmentId => StatusTrail) private _trails;
    /// @dev Each department's running hash of its anchorings: what a reader of its batch events checks them against,
    /// and what a state proof at a witnessed block proves its batches up to that block by (red team round 75: a node
    /// dated a batch anchored after the latest witnessed checkpoint below it).
    mapping(bytes32 departmentId => AnchoringTrail) private _anchorings;
    /// @dev The certificates each successor superseded, in order (4.3.0): what a reader learns a certificate's
    /// predecessors from, by one call or a state proof, instead of every supersession event of its department.
    mapping(bytes32 departmentId => mapping(bytes32 root => mapping(bytes32 digest => Predecessor[]))) private
        _predecessors;

    /// @notice Binds the anchor to the department registry that authorizes issuers.
    /// @param registry_ The department registry.
    constructor(IDepartmentRegistry registry_) {
        _registry = registry_;
    }

    // ----------------------------------------------------------------- writes

    /// @inheritdoc ICertificateAnchor
    function anchorBatch(bytes32 root, uint32 count, bytes32 schema) external {
        bytes32 departmentId = _callerDepartment();
        if (root == bytes32(0)) revert AnchorZeroRoot();
        if (count == 0) revert AnchorEmptyBatch();
        if (_batches[departmentId][root].signer != address(0)) revert AnchorRootAlreadyAnchored(departmentId, root);
        if (!_registry.isAuthorizedForType(departmentId, schema)) revert AnchorTypeUnauthorized(departmentId, schema);

        _batches[departmentId][root] = Batch({
            signer: msg.sender,
            blockNumber: uint32(block.number),
            timestamp: uint32(block.timestamp),
            count: count,
            schema: schema
        });
        AnchoringTrail storage kept = _anchorings[departmentId];
        kept.trail =
            sha256(abi.encodePacked(kept.trail, root, msg.sender, uint32(block.number), uint256(count), schema));
        kept.blockNumber = uint32(block.number);
        kept.batches += 1;
        emit BatchAnchored(root, departmentId, msg.sender, count, schema);
    }

    /// @inheritdoc ICertificateAnchor
    function revoke(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external {
        StatusChange[] storage history = _ownCertificate(root, digest, proof, reason);
        _requireNotTerminal(history, digest);

        bytes32 departmentId = _registry.departmentOf(msg.sender);
        _record(history, CertStatus.Revoked, bytes32(uint256(reason)));
        _chain(departmentId, CertStatus.Revoked, digest, root, bytes32(uint256(reason)), "");
        _ended[departmentId][digest] = root;
        emit CertificateRevoked(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function suspend(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external {
        StatusChange[] storage history = _ownCertificate(root, digest, proof, reason);
        CertStatus status = _requireNotTerminal(history, digest);
        if (status == CertStatus.Suspended) revert AnchorCertificateAlreadySuspended(digest);

        bytes32 departmentId = _registry.departmentOf(msg.sender);
        _requireNotHeldElsewhere(departmentId, root, digest);
        if (_held[departmentId][digest] == bytes32(0)) _held[departmentId][digest] = root;
        _record(history, CertStatus.Suspended, bytes32(uint256(reason)));
        _chain(departmentId, CertStatus.Suspended, digest, root, bytes32(uint256(reason)), "");
        emit CertificateSuspended(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function reinstate(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external {
        StatusChange[] storage history = _ownCertificate(root, digest, proof, reason);
        CertStatus status = _requireNotTerminal(history, digest);
        bytes32 departmentId = _registry.departmentOf(msg.sender);
        _requireNotHeldElsewhere(departmentId, root, digest);
        if (status != CertStatus.Suspended) revert AnchorCertificateNotSuspended(digest);

        _record(history, CertStatus.Valid, bytes32(uint256(reason)));
        _chain(departmentId, CertStatus.Valid, digest, root, bytes32(uint256(reason)), "");
        emit CertificateReinstated(digest, root, departmentId, reason);
    }

    /// @inheritdoc ICertificateAnchor
    function supersede(
        bytes32 oldRoot,
        bytes32 oldFieldsDigest,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newFieldsDigest,
        bytes32[] calldata newProof
    ) external {
        bytes32 departmentId = _callerDepartment();
        // Each digest is computed under its own batch's type, never taken from the caller: a digest of another type
        // anchored again in a batch of this one is not a leaf of it under this type (red team round 52).
        bytes32 oldDigest = certificateDigest(_batches[departmentId][oldRoot].schema, oldFieldsDigest);
        bytes32 newDigest = certificateDigest(_batches[departmentId][newRoot].schema, newFieldsDigest);
        if (oldDigest == newDigest) revert AnchorSelfSupersede(oldDigest);
        StatusChange[] storage oldHistory = _live(departmentId, oldRoot, oldDigest, oldProof);
        _live(departmentId, newRoot, newDigest, newProof);
        _requireSameType(departmentId, oldRoot, oldDigest, newRoot, newDigest);

        _record(oldHistory, CertStatus.Superseded, newDigest);
        _chain(departmentId, CertStatus.Superseded, oldDigest, oldRoot, newDigest, abi.encodePacked(newRoot));
        _ended[departmentId][oldDigest] = oldRoot;
        _predecessors[departmentId][newRoot][newDigest].push(Predecessor({root: oldRoot, digest: oldDigest}));
        emit CertificateSuperseded(oldDigest, oldRoot, departmentId, newDigest, newRoot);
    }

    // ----------------------------------------------------------------- views

    /// @inheritdoc ICertificateAnchor
    function registry() external view returns (IDepartmentRegistry) {
        return _registry;
    }

    /// @inheritdoc ICertificateAnchor
    function batch(bytes32 departmentId, bytes32 root)
        external
        view
        returns (address signer, uint32 blockNumber, uint32 timestamp, uint32 count, bytes32 schema)
    {
        Batch memory b = _batches[departmentId][root];
        return (b.signer, b.blockNumber, b.timestamp, b.count, b.schema);
    }

    /// @inheritdoc ICertificateAnchor
    function statusOf(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (CertStatus status, uint32 blockNumber, uint32 timestamp, bytes32 detail)
    {
        StatusChange[] storage history = _history[departmentId][root][digest];
        if (history.length == 0) return (CertStatus.Valid, 0, 0, bytes32(0));
        StatusChange storage last = history[history.length - 1];
        return (last.status, last.blockNumber, last.timestamp, last.detail);
    }

    /// @inheritdoc ICertificateAnchor
    function statusAt(bytes32 departmentId, bytes32 root, bytes32 digest, uint64 timestamp)
        external
        view
        returns (CertStatus)
    {
        StatusChange[] storage history = _history[departmentId][root][digest];
        for (uint256 i = history.length; i > 0; --i) {
            StatusChange storage change = history[i - 1];
            if (change.timestamp <= timestamp) return change.status;
        }
        return CertStatus.Valid;
    }

    /// @inheritdoc ICertificateAnchor
    function endedUnder(bytes32 departmentId, bytes32 digest) external view returns (bytes32) {
        return _ended[departmentId][digest];
    }

    /// @inheritdoc ICertificateAnchor
    function heldUnder(bytes32 departmentId, bytes32 digest) external view returns (bytes32) {
        return _held[departmentId][digest];
    }

    /// @inheritdoc ICertificateAnchor
    function predecessors(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (Predecessor[] memory)
    {
        return _predecessors[departmentId][root][digest];
    }

    /// @inheritdoc ICertificateAnchor
    function statusTrail(bytes32 departmentId) external view returns (StatusTrail memory) {
        return _trails[departmentId];
    }

    /// @inheritdoc ICertificateAnchor
    function statusTrails() external view returns (bytes32[] memory departmentIds, StatusTrail[] memory trails) {
        departmentIds = _registry.departmentIds();
        trails = new StatusTrail[](departmentIds.length);
        for (uint256 i = 0; i < departmentIds.length; ++i) {
            trails[i] = _trails[departmentIds[i]];
        }
    }

    /// @inheritdoc ICertificateAnchor
    function anchoringTrail(bytes32 departmentId) external view returns (AnchoringTrail memory) {
        return _anchorings[departmentId];
    }

    /// @inheritdoc ICertificateAnchor
    function anchoringTrails() external view returns (bytes32[] memory departmentIds, AnchoringTrail[] memory trails) {
        departmentIds = _registry.departmentIds();
        trails = new AnchoringTrail[](departmentIds.length);
        for (uint256 i = 0; i < departmentIds.length; ++i) {
            trails[i] = _anchorings[departmentIds[i]];
        }
    }

    /// @inheritdoc ICertificateAnchor
    function statusHistory(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (StatusChange[] memory)
    {
        return _history[departmentId][root][digest];
    }

    /// @inheritdoc ICertificateAnchor
    function certificateDigest(bytes32 schema, bytes32 fieldsDigest) public pure returns (bytes32) {
        return sha256(abi.encodePacked(DIGEST_TAG, schema, fieldsDigest));
    }

    /// @inheritdoc ICertificateAnchor
    function version() external pure returns (string memory) {
        return "4.3.0";
    }

    // ----------------------------------------------------------------- internals

    /// @dev Department of the caller, who must be the current key of an active issuer department.
    function _callerDepartment() private view returns (bytes32) {
        if (!_registry.isActiveSigner(msg.sender, Roles.ISSUER)) revert AnchorUnauthorized(msg.sender, Roles.ISSUER);
        return _registry.departmentOf(msg.sender);
    }

    /// @dev The status history of `digest` in the caller department's own batch `root`, after checking the
    /// reason code and the proof. There is no other department's history this could return.
    function _ownCertificate(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason)
        private
        view
        returns (StatusChange[] storage)
    {
        if (reason == 0 || reason > MAX_REASON) revert AnchorUnknownReason(reason);
        bytes32 departmentId = _callerDepartment();
        StatusChange[] storage history = _proven(departmentId, root, digest, proof);
        _requireNotEndedElsewhere(departmentId, root, digest);
        return history;
    }

    /// @dev Reverts unless `departmentId` anchored `root` and `proof` places `digest` under it.
    function _proven(bytes32 departmentId, bytes32 root, bytes32 digest, bytes32[] calldata proof)
        private
        view
        returns (StatusChange[] storage)
    {
        if (_batches[departmentId][root].signer == address(0)) revert AnchorUnknownRoot(departmentId, root);
        if (!Sha256Merkle.verify(proof, root, digest)) revert AnchorInvalidProof(root, digest);
        return _history[departmentId][root][digest];
    }

    /// @dev The status history of `digest` in `departmentId`'s batch `root`, after checking the proof, and that the
    /// certificate is neither ended under another root of the department nor revoked or superseded under this one.
    function _live(bytes32 departmentId, bytes32 root, bytes32 digest, bytes32[] calldata proof)
        private
        view
        returns (StatusChange[] storage history)
    {
        history = _proven(departmentId, root, digest, proof);
        _requireNotEndedElsewhere(departmentId, root, digest);
        _requireNotTerminal(history, digest);
    }

    /// @dev Reverts when the department's certificate `digest` ended (revoked, superseded) under another root than
    /// `root`: the same digest anchored again is the same certificate, and stays ended.
    function _requireNotEndedElsewhere(bytes32 departmentId, bytes32 root, bytes32 digest) private view {
        bytes32 endedRoot = _ended[departmentId][digest];
        if (endedRoot != bytes32(0) && endedRoot != root) {
            revert AnchorCertificateEndedElsewhere(digest, root, endedRoot);
        }
    }

    /// @dev Reverts when the department's suspensions of `digest` are made through another root than `root` (the
    /// root of its first suspension): the same digest anchored again is the same certificate, suspended and
    /// reinstated through one root only.
    function _requireNotHeldElsewhere(bytes32 departmentId, bytes32 root, bytes32 digest) private view {
        bytes32 heldRoot = _held[departmentId][digest];
        if (heldRoot != bytes32(0) && heldRoot != root) revert AnchorCertificateHeldElsewhere(digest, root, heldRoot);
    }

    /// @dev Reverts unless the department's batches `oldRoot` and `newRoot` are of one certificate type.
    function _requireSameType(
        bytes32 departmentId,
        bytes32 oldRoot,
        bytes32 oldDigest,
        bytes32 newRoot,
        bytes32 newDigest
    ) private view {
        bytes32 oldType = _batches[departmentId][oldRoot].schema;
        bytes32 newType = _batches[departmentId][newRoot].schema;
        if (oldType != newType) revert AnchorSupersedeAcrossTypes(oldDigest, oldType, newDigest, newType);
    }

    /// @dev Current status in `history`, reverting when it is terminal.
    function _requireNotTerminal(StatusChange[] storage history, bytes32 digest)
        private
        view
        returns (CertStatus status)
    {
        if (history.length == 0) return CertStatus.Valid;
        StatusChange storage last = history[history.length - 1];
        status = last.status;
        if (status == CertStatus.Revoked) revert AnchorCertificateRevoked(digest);
        if (status == CertStatus.Superseded) revert AnchorCertificateSuperseded(digest, last.detail);
    }

    /// @dev Chains one status change into its department's trail: the status event's ABI data is `detail` (the
    /// reason code as one word, or the successor digest) followed by `more` (the successor's root, or nothing).
    function _chain(
        bytes32 departmentId,
        CertStatus status,
        bytes32 digest,
        bytes32 root,
        bytes32 detail,
        bytes memory more
    ) private {
        StatusTrail storage kept = _trails[departmentId];
        kept.trail =
            sha256(abi.encodePacked(kept.trail, uint8(status), digest, root, uint32(block.number), detail, more));
        kept.blockNumber = uint32(block.number);
        kept.changes += 1;
    }

    function _record(StatusChange[] storage history, CertStatus status, bytes32 detail) private {
        history.push(
            StatusChange({
                status: status, blockNumber: uint32(block.number), timestamp: uint32(block.timestamp), detail: detail
            })
        );
    }
}
