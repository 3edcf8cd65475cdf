// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IBatchLog} from "./IBatchLog.sol";
import {IDepartmentRegistry, Roles} from "./IDepartmentRegistry.sol";

/// @title BatchLog
/// @notice Anchors gap-free ranges of departments' append-only logs and publishes approval rule sets.
contract BatchLog is IBatchLog {
    IDepartmentRegistry private immutable _registry;
    /// @dev SHA-256("pl-log/decisions"): the approval decision log, which only approver departments may anchor.
    bytes32 private immutable _decisionsLog;

    /// @dev Keyed by department first: no department can anchor into, or squat a root of, another's namespace.
    mapping(bytes32 departmentId => mapping(bytes32 root => LogBatch)) private _batches;
    /// @dev Last anchored sequence number; 0 before the first batch, so the next one is this + 1.
    mapping(bytes32 departmentId => mapping(bytes32 logId => uint64)) private _lastSequence;
    /// @dev Keyed by department first too: a department copying another's digest publishes only its own.
    mapping(bytes32 departmentId => mapping(bytes32 digest => RuleSet)) private _ruleSets;

    /// @notice Binds the log to the department registry that authorizes writers.
    /// @param registry_ The department registry.
    constructor(IDepartmentRegistry registry_) {
        _registry = registry_;
        _decisionsLog = sha256("pl-log/decisions");
    }

    /// @inheritdoc IBatchLog
    function anchorLog(bytes32 logId, bytes32 root, uint64 firstSeq, uint64 lastSeq, bytes32 headHash) external {
        // Decisions bind applicants: only an approver department records them. Other logs (access) are any
        // active department's.
        bytes32 departmentId = _callerDepartment(logId == _decisionsLog ? Roles.APPROVER : 0);
        if (root == bytes32(0)) revert LogZeroRoot();
        if (_batches[departmentId][root].signer != address(0)) revert LogRootAlreadyAnchored(departmentId, root);
        // lastSeq == max would leave no representable next sequence.
        if (firstSeq > lastSeq || lastSeq == type(uint64).max) revert LogInvalidRange(firstSeq, lastSeq);
        uint64 expected = _lastSequence[departmentId][logId] + 1;
        if (firstSeq != expected) revert LogSequenceGap(departmentId, logId, expected, firstSeq);

        _lastSequence[departmentId][logId] = lastSeq;
        _batches[departmentId][root] = LogBatch({
            departmentId: departmentId,
            logId: logId,
            firstSeq: firstSeq,
            lastSeq: lastSeq,
            blockNumber: uint32(block.number),
            timestamp: uint32(block.timestamp),
            signer: msg.sender,
            headHash: headHash
        });
        emit LogBatchAnchored(logId, departmentId, root, firstSeq, lastSeq, headHash, msg.sender);
    }

    /// @inheritdoc IBatchLog
    function publishRuleSet(bytes32 digest, bytes32 serviceItem) external {
        bytes32 departmentId = _callerDepartment(Roles.APPROVER);
        if (digest == bytes32(0)) revert RuleSetZeroDigest();
        // a department decides only the service items the council made it responsible for (red team round 85s)
        // (held now, as CertificateAnchor judges a type; the verifiers judge the publication's block whole: a
        // publication ordered after a grant in the grant's own block passes here and fails them, as a type does)
        if (!_registry.holdsServiceItem(departmentId, serviceItem)) {
            revert RuleSetServiceItemNotHeld(departmentId, serviceItem);
        }
        if (_ruleSets[departmentId][digest].departmentId != bytes32(0)) {
            revert RuleSetAlreadyPublished(departmentId, digest);
        }
        _ruleSets[departmentId][digest] = RuleSet({
            departmentId: departmentId,
            serviceItem: serviceItem,
            blockNumber: uint32(block.number),
            timestamp: uint32(block.timestamp)
        });
        emit RuleSetPublished(digest, departmentId, serviceItem);
    }

    /// @inheritdoc IBatchLog
    function registry() external view returns (IDepartmentRegistry) {
        return _registry;
    }

    /// @inheritdoc IBatchLog
    function logBatch(bytes32 departmentId, bytes32 root) external view returns (LogBatch memory) {
        return _batches[departmentId][root];
    }

    /// @inheritdoc IBatchLog
    function decisionsLog() external view returns (bytes32) {
        return _decisionsLog;
    }

    /// @inheritdoc IBatchLog
    function nextSequence(bytes32 departmentId, bytes32 logId) external view returns (uint64) {
        return _lastSequence[departmentId][logId] + 1;
    }

    /// @inheritdoc IBatchLog
    function ruleSet(bytes32 publisher, bytes32 digest)
        external
        view
        returns (bytes32 departmentId, bytes32 serviceItem, uint32 blockNumber, uint32 timestamp)
    {
        RuleSet storage r = _ruleSets[publisher][digest];
        return (r.departmentId, r.serviceItem, r.blockNumber, r.timestamp);
    }

    /// @inheritdoc IBatchLog
    function version() external pure returns (string memory) {
        return "3.0.0";
    }

    /// @dev Department of the caller, who must be the current key of an active department holding `role`.
    function _callerDepartment(uint8 role) private view returns (bytes32) {
        if (!_registry.isActiveSigner(msg.sender, role)) revert LogUnauthorized(msg.sender);
        return _registry.departmentOf(msg.sender);
    }
}
