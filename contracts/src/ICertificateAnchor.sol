// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDepartmentRegistry} from "./IDepartmentRegistry.sol";

/// @title ICertificateAnchor
/// @notice Anchors Merkle roots of certificate batches (SHA-256, see {Sha256Merkle}) and records per-certificate
/// status changes made by the department that issued the certificate.
/// @dev Every batch lives in its department's own namespace, `(departmentId, root)`, and every certificate's
/// status is keyed by where it was anchored, `(departmentId, root, digest)`. So no department can anchor into,
/// block (squat) or change the status of another department's batch: authority is structural, not a check that
/// a caller-supplied root could route around. A digest that another department copies into a batch of its own
/// gets a separate status that verifiers never read, because they look a certificate up by the issuer and root
/// it names. A certificate is its digest within its department: once revoked or superseded under one of the
/// department's roots it is ended under every one ({endedUnder}), so anchoring the same digest again in a new batch
/// cannot bring it back (2.1.0). Every batch is of one certificate type, its `schema`: the registry's type hash
/// (keccak256 of the type name), which the department must hold when it anchors the batch; a certificate is
/// superseded only by one of its own type, so both batches' types must be the same (3.0.0). A certificate's digest
/// commits to its type: `digest = sha256("pl-cert/2\x00" || schema || fieldsDigest)` ({certificateDigest}), and
/// {supersede} computes both digests under their own batches' types from the fields digests it is given, so a digest
/// of one type anchored again in a batch declared of another can never be named through that batch (4.0.0).
interface ICertificateAnchor {
    /// @notice Certificate status. Revoked and Superseded are terminal.
    enum CertStatus {
        Valid,
        Suspended,
        Revoked,
        Superseded
    }

    /// @notice One anchored batch: the anchoring in one storage slot, its certificate type in a second.
    struct Batch {
        address signer;
        uint32 blockNumber;
        uint32 timestamp;
        uint32 count;
        bytes32 schema;
    }

    /// @notice One status change. `detail` is the reason code (as uint256), or the successor digest for
    /// Superseded.
    struct StatusChange {
        CertStatus status;
        uint32 blockNumber;
        uint32 timestamp;
        bytes32 detail;
    }

    /// @notice A department's status trail: the running hash of every status change it made, in chain order
    /// (docs/format.md §8), the block of the last one and how many there were. A reader that took a department's
    /// status events from `eth_getLogs` recomputes the hash from them and compares: an event a node left out, made
    /// up, moved to another block or put out of order changes it (4.1.0).
    struct StatusTrail {
        bytes32 trail;
        uint32 blockNumber;
        uint32 changes;
    }

    /// @notice A department's anchoring trail: the running hash of every batch it anchored, in chain order
    /// (docs/format.md §8), the block of the last one and how many there were. A reader that took a department's
    /// `BatchAnchored` events from `eth_getLogs` recomputes the hash from them and compares; a state proof of it at a
    /// witnessed block proves which batches were anchored up to that block, and in which blocks (4.2.0).
    struct AnchoringTrail {
        bytes32 trail;
        uint32 blockNumber;
        uint32 batches;
    }

    /// @notice A certificate its successor replaced: the department's batch `root` it was superseded in and its
    /// `digest`. Each successor keeps its own, in the order they were superseded ({predecessors}, 4.3.0).
    struct Predecessor {
        bytes32 root;
        bytes32 digest;
    }

    // ----------------------------------------------------------------- errors

    /// @notice `caller` is not the current key of an active department holding `neededRole`.
    error AnchorUnauthorized(address caller, uint8 neededRole);
    /// @notice The Merkle root must be nonzero.
    error AnchorZeroRoot();
    /// @notice A batch must hold at least one certificate.
    error AnchorEmptyBatch();
    /// @notice Department `departmentId` has already anchored `root`.
    error AnchorRootAlreadyAnchored(bytes32 departmentId, bytes32 root);
    /// @notice Department `departmentId` never anchored `root`.
    error AnchorUnknownRoot(bytes32 departmentId, bytes32 root);
    /// @notice The proof does not place `digest` under `root`.
    error AnchorInvalidProof(bytes32 root, bytes32 digest);
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
    /// @notice Certificate `digest` was revoked or superseded under the department's batch `endedRoot`; the same
    /// digest anchored again under `root` is the same certificate, ended too (see {endedUnder}).
    error AnchorCertificateEndedElsewhere(bytes32 digest, bytes32 root, bytes32 endedRoot);
    /// @notice Certificate `digest` is suspended and reinstated through the department's batch `heldRoot` only (the
    /// root of its first suspension); the same digest anchored again under `root` is the same certificate, whose
    /// suspension there holds under every root (see {heldUnder}).
    error AnchorCertificateHeldElsewhere(bytes32 digest, bytes32 root, bytes32 heldRoot);
    /// @notice Department `departmentId` does not hold certificate type `schema` (the registry's type hash) now, so
    /// it may not anchor a batch of it.
    error AnchorTypeUnauthorized(bytes32 departmentId, bytes32 schema);
    /// @notice Certificate `oldDigest` of a batch of type `oldType` cannot be superseded by `newDigest` of a batch of
    /// type `newType`: a certificate is replaced only by one of its own type.
    error AnchorSupersedeAcrossTypes(bytes32 oldDigest, bytes32 oldType, bytes32 newDigest, bytes32 newType);
    /// @notice `reason` is not a code of the published vocabulary (1 to {MAX_REASON}); free text never goes on
    /// chain.
    error AnchorUnknownReason(uint8 reason);

    // ----------------------------------------------------------------- events

    /// @notice `signer` of `departmentId` anchored `root` covering `count` certificates of type `schema` (the
    /// registry's type hash of their type name).
    event BatchAnchored(
        bytes32 indexed root, bytes32 indexed departmentId, address indexed signer, uint32 count, bytes32 schema
    );
    /// @notice Certificate `digest` of `departmentId`'s batch `root` was revoked for reason code `reason`.
    event CertificateRevoked(bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason);
    /// @notice Certificate `digest` of `departmentId`'s batch `root` was suspended for reason code `reason`.
    event CertificateSuspended(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason
    );
    /// @notice Certificate `digest` of `departmentId`'s batch `root` was reinstated for reason code `reason`.
    event CertificateReinstated(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason
    );
    /// @notice Certificate `digest` of `departmentId`'s batch `root` was superseded by `successor`, anchored by
    /// the same department in `successorRoot`.
    event CertificateSuperseded(
        bytes32 indexed digest,
        bytes32 indexed root,
        bytes32 indexed departmentId,
        bytes32 successor,
        bytes32 successorRoot
    );

    // ----------------------------------------------------------------- writes

    /// @notice Anchors the Merkle root of a batch of `count` certificates in the caller department's namespace.
    /// @dev Caller must be the current key of an active department with the issuer role that holds certificate type
    /// `schema` now ({IDepartmentRegistry.isAuthorizedForType}). Two SSTOREs, and two for the department's
    /// {anchoringTrail}. Another department anchoring the same root value neither blocks nor affects this one. The contract cannot see the leaves: every verifier checks
    /// that a certificate's type hashes to its batch's `schema` (docs/format.md §8).
    /// @param root Merkle root (nonzero, never anchored before by this department).
    /// @param count Number of certificates in the batch (nonzero).
    /// @param schema The certificate type of every certificate of the batch: keccak256 of its name.
    function anchorBatch(bytes32 root, uint32 count, bytes32 schema) external;

    /// @notice Revokes certificate `digest` of the caller department's batch `root` (terminal).
    /// @dev Caller: active issuer key of a department; `root` must be that department's own batch.
    /// @param root The caller department's anchored batch root holding the certificate.
    /// @param digest Certificate digest.
    /// @param proof Merkle proof of `digest` under `root`.
    /// @param reason Reason code from the published vocabulary (1 to {MAX_REASON}).
    function revoke(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external;

    /// @notice Suspends a Valid certificate. Same caller, proof and reason rules as {revoke}.
    function suspend(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external;

    /// @notice Reinstates a Suspended certificate to Valid. Same caller, proof and reason rules as {revoke}.
    function reinstate(bytes32 root, bytes32 digest, bytes32[] calldata proof, uint8 reason) external;

    /// @notice Marks the certificate of fields digest `oldFieldsDigest` in batch `oldRoot` (Valid or Suspended) as
    /// superseded by the certificate of fields digest `newFieldsDigest` in batch `newRoot` (terminal).
    /// @dev Each certificate's digest is {certificateDigest} of its batch's type and the fields digest given, and
    /// each proof must place that digest under its root: a digest anchored again in a batch of another type than its
    /// own is never a leaf of that batch under that batch's type, so neither side can be a certificate of another
    /// type than its batch (red team round 52). Both batches must be the caller department's own and of the same
    /// certificate type ({AnchorSupersedeAcrossTypes}); neither certificate may be revoked or superseded, under these
    /// roots or under any other root of the department ({endedUnder}). The events and statuses name the digests, and
    /// the old certificate is recorded among the new one's {predecessors} (4.3.0: three more SSTOREs).
    function supersede(
        bytes32 oldRoot,
        bytes32 oldFieldsDigest,
        bytes32[] calldata oldProof,
        bytes32 newRoot,
        bytes32 newFieldsDigest,
        bytes32[] calldata newProof
    ) external;

    // ----------------------------------------------------------------- views

    /// @notice The registry consulted for authorization.
    function registry() external view returns (IDepartmentRegistry);

    /// @notice Highest reason code of the published vocabulary (docs/format.md).
    function MAX_REASON() external view returns (uint8);

    /// @notice Domain tag of a certificate digest, `"pl-cert/2\x00"`: it names the format (docs/format.md).
    function DIGEST_TAG() external view returns (bytes10);

    /// @notice Digest of the certificate of type `schema` (keccak256 of its type name) whose fields digest is
    /// `fieldsDigest`: `sha256(DIGEST_TAG || schema || fieldsDigest)`, as every verifier computes it (docs/format.md).
    function certificateDigest(bytes32 schema, bytes32 fieldsDigest) external pure returns (bytes32);

    /// @notice Batch `root` of department `departmentId` and its certificate type (`schema`, the registry's type
    /// hash); all zero when that department never anchored it.
    function batch(bytes32 departmentId, bytes32 root)
        external
        view
        returns (address signer, uint32 blockNumber, uint32 timestamp, uint32 count, bytes32 schema);

    /// @notice Current status of certificate `digest` of `departmentId`'s batch `root` and its latest change;
    /// Valid with zeros when never changed.
    function statusOf(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (CertStatus status, uint32 blockNumber, uint32 timestamp, bytes32 detail);

    /// @notice Status of that certificate in force at `timestamp` (the last change made at or before it).
    function statusAt(bytes32 departmentId, bytes32 root, bytes32 digest, uint64 timestamp)
        external
        view
        returns (CertStatus);

    /// @notice The root of `departmentId`'s batch under which certificate `digest` was revoked or superseded; 0 while
    /// it was neither. A digest anchored again under another root of the department is the same certificate:
    /// verifiers read this beside the status of the root a document names, and status changes through any other
    /// root revert ({AnchorCertificateEndedElsewhere}).
    function endedUnder(bytes32 departmentId, bytes32 digest) external view returns (bytes32 root);

    /// @notice The root of `departmentId`'s batch through which certificate `digest` was first suspended, through
    /// which alone it is suspended and reinstated since ({AnchorCertificateHeldElsewhere}); 0 while never suspended.
    /// A digest anchored again under another root is the same certificate: verifiers read this root's status (its
    /// history is the digest's whole suspension history) beside the status of the root a document names.
    function heldUnder(bytes32 departmentId, bytes32 digest) external view returns (bytes32 root);

    /// @notice Department `departmentId`'s status trail (see {StatusTrail}): all zero while it changed no status.
    /// Each change sets `trail = sha256(trail || uint8 status || digest || root || uint32 block || data)`, with the
    /// new status code, the certificate's digest and root, the block, and the status event's ABI data (the reason
    /// code as one word, or a supersession's successor digest and root).
    function statusTrail(bytes32 departmentId) external view returns (StatusTrail memory);

    /// @notice The status trails of every department the registry lists ({IDepartmentRegistry-departmentIds}), in
    /// its order: one call for a reader of the whole contract's status events.
    function statusTrails() external view returns (bytes32[] memory departmentIds, StatusTrail[] memory trails);

    /// @notice Department `departmentId`'s anchoring trail (see {AnchoringTrail}): all zero while it anchored no batch.
    /// Each anchoring sets `trail = sha256(trail || root || signer || uint32 block || data)`, with the batch's root,
    /// the anchoring key (20 bytes), the block, and the {BatchAnchored} event's ABI data (`count` as one word, then
    /// `schema`).
    function anchoringTrail(bytes32 departmentId) external view returns (AnchoringTrail memory);

    /// @notice The anchoring trails of every department the registry lists ({IDepartmentRegistry-departmentIds}), in
    /// its order: one call for a reader of the whole contract's batch events.
    function anchoringTrails() external view returns (bytes32[] memory departmentIds, AnchoringTrail[] memory trails);

    /// @notice Every status change of that certificate, oldest first.
    function statusHistory(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (StatusChange[] memory);

    /// @notice The certificates that department `departmentId`'s certificate `digest` of batch `root` superseded
    /// (their roots and digests), in the order {supersede} recorded them: empty when it replaced none. Only
    /// {supersede} writes it, so a reader (or a state proof of its slots at a witnessed block) learns a successor's
    /// predecessors from storage, not from a scan of every `CertificateSuperseded` event a node may leave one out of
    /// (4.3.0). Keyed by the successor's root as {supersede} named it: a digest anchored again is looked up under
    /// the root through which it superseded.
    function predecessors(bytes32 departmentId, bytes32 root, bytes32 digest)
        external
        view
        returns (Predecessor[] memory);

    /// @notice Contract version, "4.3.0" (2.1.0: a revoked or superseded digest is ended under every root of its
    /// department, {endedUnder}; 2.2.0: its suspensions are made through one root, {heldUnder}; 3.0.0: a batch is
    /// of one certificate type its department holds, and a certificate is superseded only by one of its type;
    /// 4.0.0: a certificate's digest commits to its type, and {supersede} computes both digests under their batches'
    /// types; 4.1.0: each department's status changes are chained in its {statusTrail}; 4.2.0: its anchorings in its
    /// {anchoringTrail}; 4.3.0: each successor's {predecessors}).
    function version() external pure returns (string memory);
}
