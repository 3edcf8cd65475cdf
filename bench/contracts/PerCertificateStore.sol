// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PerCertificateStore
/// @notice Benchmark baseline only, never deployed by the ledger: the "simple document store" design that
/// anchors every certificate in its own transaction (a mapping from digest to issuer and timestamp).
/// It is deliberately lean (one packed storage slot and one event per certificate), so the ratio measured
/// against batched anchoring is a lower bound of what such designs cost.
contract PerCertificateStore {
    struct Record {
        address issuer;
        uint64 timestamp;
    }

    mapping(bytes32 digest => Record) private _records;

    /// @notice `digest` was already stored by `issuer`.
    error PerCertificateStoreAlreadyStored(bytes32 digest, address issuer);

    /// @notice `issuer` stored certificate `digest`.
    event CertificateStored(bytes32 indexed digest, address indexed issuer);

    /// @notice Stores one certificate digest for the caller.
    /// @param digest The certificate digest.
    function store(bytes32 digest) external {
        address existing = _records[digest].issuer;
        if (existing != address(0)) revert PerCertificateStoreAlreadyStored(digest, existing);
        _records[digest] = Record({issuer: msg.sender, timestamp: uint64(block.timestamp)});
        emit CertificateStored(digest, msg.sender);
    }

    /// @notice Issuer and time of `digest`; zero when never stored.
    function recordOf(bytes32 digest) external view returns (address issuer, uint64 timestamp) {
        Record memory r = _records[digest];
        return (r.issuer, r.timestamp);
    }
}
