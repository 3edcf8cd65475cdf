// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title StatusEventEmitter
/// @notice Benchmark fixture only, never deployed by the ledger: emits status events with exactly the signatures
/// and topics of {ICertificateAnchor} (event, digest, root, departmentId; reason or successor in data), many per
/// transaction, so the cost of reading a department's whole status event stream can be measured at 10,000 and
/// 100,000 events without 100,000 revocation transactions.
contract StatusEventEmitter {
    event CertificateRevoked(bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason);
    event CertificateSuspended(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason
    );
    event CertificateReinstated(
        bytes32 indexed digest, bytes32 indexed root, bytes32 indexed departmentId, uint8 reason
    );

    /// @notice Emits `count` status events of `departmentId` for distinct digests of batch `root`, starting at
    /// digest number `first` (a suspension, a reinstatement and a revocation in turn).
    function emitMany(bytes32 departmentId, bytes32 root, uint256 first, uint256 count) external {
        for (uint256 i = first; i < first + count; ++i) {
            bytes32 digest = keccak256(abi.encode(root, i));
            uint256 kind = i % 3;
            if (kind == 0) emit CertificateSuspended(digest, root, departmentId, 9);
            else if (kind == 1) emit CertificateReinstated(digest, root, departmentId, 10);
            else emit CertificateRevoked(digest, root, departmentId, 2);
        }
    }
}
