// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDepartmentRegistry} from "./IDepartmentRegistry.sol";

/// @title ICertificateAnchor
/// @notice Anchors Merkle roots of certificate batches (SHA-256, see {Sha256Merkle}) and records per-certificate
/// status changes made by the department that issued the certificate.
interface ICertificateAnchor {
    /// @notice Certificate status. Revoked and Superseded are terminal.
    enum CertStatus {
        Valid,
        Suspended,
        Revoked,
        Superseded
    }

    /// @notice One anchored batch, packed into a single storage slot.
    struct Batch {
        address signer;
        uint32 blockNumber;
        uint32 timestamp;
        uint32 count;
    }

    /// @notice One status change. `detail` is the reason, or the successor digest for Superseded.
    struct StatusChange {
        CertStatus status;
        uint32 blockNumber;
        uint32 timestamp;
        bytes32 detail;
    }

    // ----------------------------------------------------------------- errors

    /// @notice `caller` is not the current key of an active department holding `neededRole`.
    error AnchorUnauthorized(address caller, uint8 neededRole);
    /// @notice The Merkle root must be nonzero.
    error AnchorZeroRoot();
    /// @notice A batch must hold at least one certificate.
    error AnchorEmptyBatch();
    /// @notice `root` has already been anchored.
    error AnchorRootAlreadyAnchored(bytes32 root);
    /// @notice `root` has never been anchored.
    error AnchorUnknownRoot(bytes32 root);
    /// @notice The proof does not place `digest` under `root`.
    error AnchorInvalidProof(bytes32 root, bytes32 digest);
    /// @notice The caller's department (`callerDepartment`) did not anchor the batch (`issuingDepartment` did).
    error AnchorNotIssuingDepartment(bytes32 callerDepartment, bytes32 issuingDepartment);
    /// @notice Certificate `digest` is revoked; nothing more can change.
    error AnchorCertificateRevoked(bytes32 digest);
    /// @notice Certificate `digest` was superseded by `successor`; nothing more can change.
    error AnchorCertificateSuperseded(bytes32 digest, bytes32 successor);
    /// @notice Certificate `digest` is not suspended.
    error AnchorCertificateNotSuspended(bytes32 digest);
    /// @notice Certificate `digest` is already suspended.
    error AnchorCertificateAlreadySuspended(bytes32 digest);
    /// @notice A certificate cannot supersede itself.
    error AnchorSelfSupersede(bytes32 digest);

    // ----------------------------------------------------------------- events

    /// @notice `signer` of `departmentId` anchored `root` covering `count` certificates of `schema`.
    event BatchAnchored(
        bytes32 indexed root, bytes32 indexed departmentId, address indexed signer, uint32 count, bytes32 schema
    );
    /// @notice Certificate `digest` of batch `root` was revoked by `departmentId`.
    event CertificateRevoked(bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, bytes32 reason);
    /// @notice Certificate `digest` of batch `root` was suspended by `departmentId`.
    event CertificateSuspended(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, bytes32 reason
    );
    /// @notice Certificate `digest` of batch `root` was reinstated by `departmentId`.
    event CertificateReinstated(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, bytes32 reason
    );
    /// @notice Certificate `digest` was superseded by `successor`, anchored in `successorRoot`.
    event CertificateSuperseded(
        bytes32 indexed digest, bytes32 indexed successor, bytes32 indexed departmentId, bytes32 successorRoot
    );

    // ----------------------------------------------------------------- writes

    /// @notice Anchors the Merkle root of a batch of `count` certificates.
    /// @dev Caller must be the current key of an active department with the issuer role. One SSTORE.
    /// @param root Merkle root (nonzero, never anchored before).
    /// @param count Number of certificates in the batch (nonzero).
    /// @param schema Certificate schema id, recorded only in the event.
    function anchorBatch(bytes32 root, uint32 count, bytes32 schema) external;

    /// @notice Revokes certificate `digest` (terminal). Caller: active issuer key of the department that anchored `root`.
    /// @param root Anchored batch root holding the certificate.
    /// @param digest Certificate digest.
    /// @param proof Merkle proof of `digest` under `root`.
    /// @param reason Reason code.
    function revoke(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external;

    /// @notice Suspends a Valid certificate. Same caller and proof rules as {revoke}.
    function suspend(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external;

    /// @notice Reinstates a Suspended certificate to Valid. Same caller and proof rules as {revoke}.
    function reinstate(bytes32 root, bytes32 digest, bytes32[] calldata proof, bytes32 reason) external;

    /// @notice Marks `oldDigest` (Valid or Suspended) as superseded by `newDigest` (terminal).
    /// @dev Both certificates must be proved in batches anchored by the caller's department; the successor must
    /// not itself be revoked or superseded.
    function supersede(
        bytes32 oldRoot,
        bytes32 oldDigest,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newDigest,
        bytes32[] calldata newProof
    ) external;

    // ----------------------------------------------------------------- views

    /// @notice The registry consulted for authorization.
    function registry() external view returns (IDepartmentRegistry);

    /// @notice The batch anchored under `root`; all zero when `root` was never anchored.
    /// @dev `departmentId` is the department of the anchoring key (keys never change department).
    function batch(bytes32 root)
        external
        view
        returns (bytes32 departmentId, address signer, uint32 blockNumber, uint32 timestamp, uint32 count);

    /// @notice Current status of `digest` and its latest change; Valid with zeros when never changed.
    function statusOf(bytes32 digest)
        external
        view
        returns (CertStatus status, uint32 blockNumber, uint32 timestamp, bytes32 detail);

    /// @notice Status of `digest` in force at `timestamp` (the last change made at or before it).
    function statusAt(bytes32 digest, uint64 timestamp) external view returns (CertStatus);

    /// @notice Every status change of `digest`, oldest first.
    function statusHistory(bytes32 digest) external view returns (StatusChange[] memory);

    /// @notice Contract version, "1.0.0".
    function version() external pure returns (string memory);
}
