// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IDepartmentRegistry} from "./IDepartmentRegistry.sol";

/// @title IBatchLog
/// @notice Anchors append-only, hash-chained logs (approval decisions, access logs) in gap-free sequence ranges per
/// department and log, and publishes the digests of approval rule sets, each in its publishing department's own
/// namespace.
interface IBatchLog {
    /// @notice One anchored range [firstSeq, lastSeq] of a department's log `logId`.
    struct LogBatch {
        bytes32 departmentId;
        bytes32 logId;
        uint64 firstSeq;
        uint64 lastSeq;
        uint32 blockNumber;
        uint32 timestamp;
        address signer;
        bytes32 headHash;
    }

    /// @notice A published approval rule set.
    struct RuleSet {
        bytes32 departmentId;
        bytes32 serviceItem;
        uint32 blockNumber;
        uint32 timestamp;
    }

    // ----------------------------------------------------------------- errors

    /// @notice `caller` is not the current key of an active department with the needed role.
    error LogUnauthorized(address caller);
    /// @notice The Merkle root must be nonzero.
    error LogZeroRoot();
    /// @notice Department `departmentId` has already anchored `root`.
    error LogRootAlreadyAnchored(bytes32 departmentId, bytes32 root);
    /// @notice The range is empty (`firstSeq` > `lastSeq`) or ends at the maximum sequence number.
    error LogInvalidRange(uint64 firstSeq, uint64 lastSeq);
    /// @notice Department `departmentId`'s log `logId` continues at `expected`, not `got`.
    error LogSequenceGap(bytes32 departmentId, bytes32 logId, uint64 expected, uint64 got);
    /// @notice A rule set digest must be nonzero.
    error RuleSetZeroDigest();
    /// @notice Department `departmentId` has already published rule set `digest`.
    error RuleSetAlreadyPublished(bytes32 departmentId, bytes32 digest);
    /// @notice Department `departmentId` does not hold service item `serviceItem` (the council grants it,
    /// DepartmentRegistry GrantServiceItem), so it cannot publish rules for it.
    error RuleSetServiceItemNotHeld(bytes32 departmentId, bytes32 serviceItem);

    // ----------------------------------------------------------------- events

    /// @notice `signer` of `departmentId` anchored entries [firstSeq, lastSeq] of log `logId` under `root`.
    event LogBatchAnchored(
        bytes32 indexed logId,
        bytes32 indexed departmentId,
        bytes32 indexed root,
        uint64 firstSeq,
        uint64 lastSeq,
        bytes32 headHash,
        address signer
    );
    /// @notice Department `departmentId` published rule set `digest` for `serviceItem`.
    event RuleSetPublished(bytes32 indexed digest, bytes32 indexed departmentId, bytes32 indexed serviceItem);

    // ----------------------------------------------------------------- writes

    /// @notice Anchors entries [firstSeq, lastSeq] of the caller department's log `logId`.
    /// @dev Caller: current key of any active department; for the decision log ({decisionsLog}) an active
    /// department with the approver role. `firstSeq` must equal {nextSequence}.
    /// @param logId Log identifier, scoped to the caller's department.
    /// @param root Merkle root of the entries (nonzero, never anchored before by this department).
    /// @param firstSeq First sequence number covered.
    /// @param lastSeq Last sequence number covered (>= firstSeq).
    /// @param headHash Hash-chain head after entry `lastSeq`.
    function anchorLog(bytes32 logId, bytes32 root, uint64 firstSeq, uint64 lastSeq, bytes32 headHash) external;

    /// @notice Publishes the digest of an approval rule set for `serviceItem`.
    /// @dev Caller: current key of an active department with the approver role that holds `serviceItem` now
    /// (DepartmentRegistry.holdsServiceItem, granted by the council), else {RuleSetServiceItemNotHeld}.
    /// @dev Kept per department: another department publishing the same digest (first, from a pending
    /// transaction) publishes its own, and keeps no department from publishing it.
    /// @param digest Rule set digest (nonzero, not published by the caller's department before).
    /// @param serviceItem Service item the rules govern.
    function publishRuleSet(bytes32 digest, bytes32 serviceItem) external;

    // ----------------------------------------------------------------- views

    /// @notice The registry consulted for authorization.
    function registry() external view returns (IDepartmentRegistry);

    /// @notice The log batch department `departmentId` anchored under `root`; all zero when unknown.
    /// @dev Roots live in each department's own namespace: another department anchoring the same root value
    /// neither blocks nor impersonates this one.
    function logBatch(bytes32 departmentId, bytes32 root) external view returns (LogBatch memory);

    /// @notice Id of the approval decision log, SHA-256("pl-log/decisions"), which only approvers may anchor.
    function decisionsLog() external view returns (bytes32);

    /// @notice The sequence number the next batch of `logId` from `departmentId` must start at (1 initially).
    function nextSequence(bytes32 departmentId, bytes32 logId) external view returns (uint64);

    /// @notice Rule set `digest` as department `publisher` published it; all zero when it did not.
    function ruleSet(bytes32 publisher, bytes32 digest)
        external
        view
        returns (bytes32 departmentId, bytes32 serviceItem, uint32 blockNumber, uint32 timestamp);

    /// @notice Contract version, "2.1.0" (2.1.0: rule sets per department).
    function version() external pure returns (string memory);
}
