// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./utils/Test.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {MerkleBuilder} from "./utils/MerkleBuilder.sol";
import {CertificateAnchor} from "../src/CertificateAnchor.sol";
import {ICertificateAnchor} from "../src/ICertificateAnchor.sol";
import {DepartmentRegistry} from "../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

contract CertificateAnchorTest is RegistryFixture {
    CertificateAnchor internal anchor;

    bytes32 internal constant MKT = bytes32("MKT");
    bytes32 internal constant FIN = bytes32("FIN");
    bytes32 internal constant VER = bytes32("VER");
    bytes32 internal constant SCHEMA = bytes32("diploma/v1");
    bytes32 internal constant REASON = bytes32("clerical-error");

    address internal mktKey;
    address internal mktKey2;
    address internal finKey;
    address internal verKey;

    bytes32[] internal digests;
    bytes32 internal root;
    bytes32[] internal digests2;
    bytes32 internal root2;
    // Precomputed: building a proof calls the SHA-256 precompile, which would consume a pending prank/expectRevert.
    bytes32[][] internal proofs;
    bytes32[][] internal proofs2;

    function setUp() public {
        _deployRegistry();
        mktKey = makeAddr("mkt-key");
        mktKey2 = makeAddr("mkt-key-2");
        finKey = makeAddr("fin-key");
        verKey = makeAddr("ver-key");
        vm.roll(1000);
        vm.warp(1_700_000_000);
        _register(MKT, mktKey, ISSUER);
        _register(FIN, finKey, ISSUER | APPROVER);
        _register(VER, verKey, VERIFIER);
        anchor = new CertificateAnchor(registry);

        for (uint256 i = 0; i < 5; ++i) {
            digests.push(sha256(abi.encode("cert", i)));
            digests2.push(sha256(abi.encode("cert-v2", i)));
        }
        root = MerkleBuilder.root(digests);
        root2 = MerkleBuilder.root(digests2);
        for (uint256 i = 0; i < 5; ++i) {
            proofs.push(MerkleBuilder.proof(digests, i));
            proofs2.push(MerkleBuilder.proof(digests2, i));
        }
    }

    function _proof(uint256 i) internal view returns (bytes32[] memory) {
        return proofs[i];
    }

    function _proof2(uint256 i) internal view returns (bytes32[] memory) {
        return proofs2[i];
    }

    function _anchor(address signer, bytes32 r, uint32 count) internal {
        vm.prank(signer);
        anchor.anchorBatch(r, count, SCHEMA);
    }

    function _status(bytes32 digest) internal view returns (ICertificateAnchor.CertStatus s) {
        (s,,,) = anchor.statusOf(digest);
    }

    // ----------------------------------------------------------------- anchorBatch

    function test_Views() public view {
        assertEq(anchor.version(), "1.0.0", "version");
        assertEq(address(anchor.registry()), address(registry), "registry");
    }

    function test_AnchorBatch() public {
        vm.expectEmit(true, true, true, true);
        emit ICertificateAnchor.BatchAnchored(root, MKT, mktKey, 5, SCHEMA);
        _anchor(mktKey, root, 5);

        (bytes32 dept, address signer, uint32 blockNumber, uint32 timestamp, uint32 count) = anchor.batch(root);
        assertEq(dept, MKT, "department");
        assertEq(signer, mktKey, "signer");
        assertEq(blockNumber, 1000, "block");
        assertEq(timestamp, 1_700_000_000, "timestamp");
        assertEq(count, 5, "count");
    }

    /// @dev Gas budget: a 10,000-certificate batch must stay well under 100k gas (<= 10 gas per certificate).
    function test_AnchorBatch_GasPer10k() public {
        vm.prank(mktKey);
        uint256 before = gasleft();
        anchor.anchorBatch(root, 10_000, SCHEMA);
        uint256 used = before - gasleft();
        // ~42k measured here (call included); ~57k as a whole transaction with the 21k base and calldata.
        assertTrue(used <= 50_000, "anchorBatch stays far under 100k gas for 10,000 certificates");
    }

    function test_Batch_UnknownRootIsZero() public view {
        (bytes32 dept, address signer, uint32 blockNumber, uint32 timestamp, uint32 count) = anchor.batch(root);
        assertEq(dept, bytes32(0), "department");
        assertEq(signer, address(0), "signer");
        assertEq(uint256(blockNumber) + timestamp + count, 0, "zeros");
    }

    function test_RevertWhen_OutsiderAnchors() public {
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, outsider, ISSUER));
        _anchor(outsider, root, 5);
    }

    function test_RevertWhen_CouncilMemberAnchors() public {
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, m0, ISSUER));
        _anchor(m0, root, 5);
    }

    function test_RevertWhen_SuspendedDepartmentAnchors() public {
        _suspend(MKT);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, mktKey, ISSUER));
        _anchor(mktKey, root, 5);
    }

    function test_RevertWhen_RotatedOutKeyAnchors() public {
        _rotate(MKT, mktKey2);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, mktKey, ISSUER));
        _anchor(mktKey, root, 5);
        _anchor(mktKey2, root, 5);
        (bytes32 dept,,,,) = anchor.batch(root);
        assertEq(dept, MKT, "new key anchors for the same department");
    }

    function test_RevertWhen_NonIssuerDepartmentAnchors() public {
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, verKey, ISSUER));
        _anchor(verKey, root, 5);
    }

    function test_RevertWhen_ZeroRoot() public {
        vm.expectRevert(ICertificateAnchor.AnchorZeroRoot.selector);
        _anchor(mktKey, bytes32(0), 5);
    }

    function test_RevertWhen_EmptyBatch() public {
        vm.expectRevert(ICertificateAnchor.AnchorEmptyBatch.selector);
        _anchor(mktKey, root, 0);
    }

    function test_RevertWhen_RootAnchoredTwice() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorRootAlreadyAnchored.selector, root));
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorRootAlreadyAnchored.selector, root));
        _anchor(finKey, root, 5);
    }

    function testFuzz_AnchorBatch(bytes32 r, uint32 count, bytes32 schema, uint32 blockNumber, uint32 ts) public {
        vm.assume(r != bytes32(0) && count > 0);
        vm.roll(blockNumber);
        vm.warp(ts);
        vm.prank(finKey);
        anchor.anchorBatch(r, count, schema);
        (bytes32 dept, address signer, uint32 b, uint32 t, uint32 c) = anchor.batch(r);
        assertEq(dept, FIN, "department");
        assertEq(signer, finKey, "signer");
        assertEq(b, blockNumber, "block");
        assertEq(t, ts, "timestamp");
        assertEq(c, count, "count");
    }

    // ----------------------------------------------------------------- revoke

    function test_Revoke() public {
        _anchor(mktKey, root, 5);
        vm.warp(1_700_000_100);
        vm.expectEmit(true, true, true, true);
        emit ICertificateAnchor.CertificateRevoked(digests[2], root, MKT, REASON);
        vm.prank(mktKey);
        anchor.revoke(root, digests[2], _proof(2), REASON);

        (ICertificateAnchor.CertStatus s, uint32 b, uint32 t, bytes32 detail) = anchor.statusOf(digests[2]);
        assertEq(uint256(s), uint256(ICertificateAnchor.CertStatus.Revoked), "revoked");
        assertEq(b, 1000, "block");
        assertEq(t, 1_700_000_100, "time");
        assertEq(detail, REASON, "reason");
        assertEq(uint256(_status(digests[1])), uint256(ICertificateAnchor.CertStatus.Valid), "neighbour untouched");
        assertEq(anchor.statusHistory(digests[2]).length, 1, "one change");
        assertEq(anchor.statusHistory(digests[1]).length, 0, "no change");
    }

    function test_StatusOf_NeverChanged() public view {
        (ICertificateAnchor.CertStatus s, uint32 b, uint32 t, bytes32 detail) = anchor.statusOf(digests[0]);
        assertEq(uint256(s), 0, "valid");
        assertEq(uint256(b) + t, 0, "zeros");
        assertEq(detail, bytes32(0), "no detail");
    }

    function test_RevertWhen_OtherDepartmentRevokes() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorNotIssuingDepartment.selector, FIN, MKT));
        vm.prank(finKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
    }

    function test_RevertWhen_OutsiderRevokes() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, outsider, ISSUER));
        vm.prank(outsider);
        anchor.revoke(root, digests[0], _proof(0), REASON);
    }

    function test_RevertWhen_SuspendedDepartmentRevokes() public {
        _anchor(mktKey, root, 5);
        _suspend(MKT);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, mktKey, ISSUER));
        vm.prank(mktKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
    }

    function test_RotatedKeyRevokesOldBatch_OldKeyCannot() public {
        _anchor(mktKey, root, 5);
        _rotate(MKT, mktKey2);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, mktKey, ISSUER));
        vm.prank(mktKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
        vm.prank(mktKey2);
        anchor.revoke(root, digests[0], _proof(0), REASON);
        assertEq(uint256(_status(digests[0])), uint256(ICertificateAnchor.CertStatus.Revoked), "revoked by new key");
    }

    function test_RevertWhen_UnknownRoot() public {
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnknownRoot.selector, root));
        vm.prank(mktKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
    }

    function test_RevertWhen_InvalidProof() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorInvalidProof.selector, root, digests[0]));
        vm.prank(mktKey);
        anchor.revoke(root, digests[0], _proof(1), REASON);
        bytes32 stranger = keccak256("not in the batch");
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorInvalidProof.selector, root, stranger));
        vm.prank(mktKey);
        anchor.revoke(root, stranger, _proof(0), REASON);
    }

    function test_RevertWhen_RevokedTwice() public {
        _anchor(mktKey, root, 5);
        vm.startPrank(mktKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateRevoked.selector, digests[0]));
        anchor.revoke(root, digests[0], _proof(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateRevoked.selector, digests[0]));
        anchor.suspend(root, digests[0], _proof(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateRevoked.selector, digests[0]));
        anchor.reinstate(root, digests[0], _proof(0), REASON);
        vm.stopPrank();
    }

    // ----------------------------------------------------------------- suspend / reinstate

    function test_SuspendAndReinstate() public {
        _anchor(mktKey, root, 5);
        vm.expectEmit(true, true, true, true);
        emit ICertificateAnchor.CertificateSuspended(digests[3], root, MKT, REASON);
        vm.prank(mktKey);
        anchor.suspend(root, digests[3], _proof(3), REASON);
        assertEq(uint256(_status(digests[3])), uint256(ICertificateAnchor.CertStatus.Suspended), "suspended");

        vm.expectEmit(true, true, true, true);
        emit ICertificateAnchor.CertificateReinstated(digests[3], root, MKT, bytes32("cleared"));
        vm.prank(mktKey);
        anchor.reinstate(root, digests[3], _proof(3), bytes32("cleared"));
        (ICertificateAnchor.CertStatus s,,, bytes32 detail) = anchor.statusOf(digests[3]);
        assertEq(uint256(s), uint256(ICertificateAnchor.CertStatus.Valid), "valid again");
        assertEq(detail, bytes32("cleared"), "reinstatement reason");
        assertEq(anchor.statusHistory(digests[3]).length, 2, "two changes");
    }

    function test_RevertWhen_SuspendTwice() public {
        _anchor(mktKey, root, 5);
        vm.startPrank(mktKey);
        anchor.suspend(root, digests[0], _proof(0), REASON);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateAlreadySuspended.selector, digests[0])
        );
        anchor.suspend(root, digests[0], _proof(0), REASON);
        vm.stopPrank();
    }

    function test_RevertWhen_ReinstateValid() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateNotSuspended.selector, digests[0]));
        vm.prank(mktKey);
        anchor.reinstate(root, digests[0], _proof(0), REASON);
    }

    function test_RevertWhen_OtherDepartmentSuspendsOrReinstates() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorNotIssuingDepartment.selector, FIN, MKT));
        vm.prank(finKey);
        anchor.suspend(root, digests[0], _proof(0), REASON);
        vm.prank(mktKey);
        anchor.suspend(root, digests[0], _proof(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorNotIssuingDepartment.selector, FIN, MKT));
        vm.prank(finKey);
        anchor.reinstate(root, digests[0], _proof(0), REASON);
    }

    function test_RevokeSuspended() public {
        _anchor(mktKey, root, 5);
        vm.startPrank(mktKey);
        anchor.suspend(root, digests[0], _proof(0), REASON);
        anchor.revoke(root, digests[0], _proof(0), REASON);
        vm.stopPrank();
        assertEq(uint256(_status(digests[0])), uint256(ICertificateAnchor.CertStatus.Revoked), "revoked");
    }

    // ----------------------------------------------------------------- supersede

    function _supersede(address caller, uint256 oldIndex, uint256 newIndex) internal {
        vm.prank(caller);
        anchor.supersede(root, digests[oldIndex], _proof(oldIndex), root2, digests2[newIndex], _proof2(newIndex));
    }

    function test_Supersede() public {
        _anchor(mktKey, root, 5);
        _anchor(mktKey, root2, 5);
        vm.expectEmit(true, true, true, true);
        emit ICertificateAnchor.CertificateSuperseded(digests[1], digests2[1], MKT, root2);
        _supersede(mktKey, 1, 1);
        (ICertificateAnchor.CertStatus s,,, bytes32 detail) = anchor.statusOf(digests[1]);
        assertEq(uint256(s), uint256(ICertificateAnchor.CertStatus.Superseded), "superseded");
        assertEq(detail, digests2[1], "successor recorded");
        assertEq(uint256(_status(digests2[1])), uint256(ICertificateAnchor.CertStatus.Valid), "successor valid");

        vm.expectRevert(
            abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateSuperseded.selector, digests[1], digests2[1])
        );
        vm.prank(mktKey);
        anchor.revoke(root, digests[1], _proof(1), REASON);
        vm.expectRevert(
            abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateSuperseded.selector, digests[1], digests2[1])
        );
        _supersede(mktKey, 1, 2);
    }

    function test_SupersedeSuspended() public {
        _anchor(mktKey, root, 5);
        _anchor(mktKey, root2, 5);
        vm.prank(mktKey);
        anchor.suspend(root, digests[0], _proof(0), REASON);
        _supersede(mktKey, 0, 0);
        assertEq(uint256(_status(digests[0])), uint256(ICertificateAnchor.CertStatus.Superseded), "superseded");
    }

    function test_SupersedeWithinSameBatch() public {
        _anchor(mktKey, root, 5);
        vm.prank(mktKey);
        anchor.supersede(root, digests[0], _proof(0), root, digests[4], _proof(4));
        assertEq(uint256(_status(digests[0])), uint256(ICertificateAnchor.CertStatus.Superseded), "superseded");
    }

    function test_RevertWhen_SelfSupersede() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorSelfSupersede.selector, digests[0]));
        vm.prank(mktKey);
        anchor.supersede(root, digests[0], _proof(0), root, digests[0], _proof(0));
    }

    function test_RevertWhen_SupersedeByOtherDepartmentsCertificate() public {
        _anchor(mktKey, root, 5);
        _anchor(finKey, root2, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorNotIssuingDepartment.selector, MKT, FIN));
        _supersede(mktKey, 0, 0);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorNotIssuingDepartment.selector, FIN, MKT));
        _supersede(finKey, 0, 0);
    }

    function test_RevertWhen_SupersedeUnknownNewRootOrBadProof() public {
        _anchor(mktKey, root, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnknownRoot.selector, root2));
        _supersede(mktKey, 0, 0);
        _anchor(mktKey, root2, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorInvalidProof.selector, root2, digests2[0]));
        vm.prank(mktKey);
        anchor.supersede(root, digests[0], _proof(0), root2, digests2[0], _proof2(1));
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorInvalidProof.selector, root, digests[0]));
        vm.prank(mktKey);
        anchor.supersede(root, digests[0], _proof(1), root2, digests2[0], _proof2(0));
    }

    function test_RevertWhen_SupersedeRevoked() public {
        _anchor(mktKey, root, 5);
        _anchor(mktKey, root2, 5);
        vm.prank(mktKey);
        anchor.revoke(root, digests[0], _proof(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateRevoked.selector, digests[0]));
        _supersede(mktKey, 0, 0);
    }

    function test_RevertWhen_SuccessorRevoked() public {
        _anchor(mktKey, root, 5);
        _anchor(mktKey, root2, 5);
        vm.prank(mktKey);
        anchor.revoke(root2, digests2[0], _proof2(0), REASON);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorCertificateRevoked.selector, digests2[0]));
        _supersede(mktKey, 0, 0);
    }

    function test_RevertWhen_OutsiderSupersedes() public {
        _anchor(mktKey, root, 5);
        _anchor(mktKey, root2, 5);
        vm.expectRevert(abi.encodeWithSelector(ICertificateAnchor.AnchorUnauthorized.selector, outsider, ISSUER));
        _supersede(outsider, 0, 0);
    }

    // ----------------------------------------------------------------- history

    function test_StatusAt_AcrossTime() public {
        _anchor(mktKey, root, 5);
        bytes32 d = digests[0];
        bytes32[] memory p = _proof(0);
        vm.startPrank(mktKey);
        vm.roll(1100);
        vm.warp(2_000);
        anchor.suspend(root, d, p, REASON);
        vm.roll(1200);
        vm.warp(3_000);
        anchor.reinstate(root, d, p, bytes32("ok"));
        vm.roll(1300);
        vm.warp(4_000);
        anchor.revoke(root, d, p, REASON);
        vm.stopPrank();

        assertEq(uint256(anchor.statusAt(d, 1_999)), uint256(ICertificateAnchor.CertStatus.Valid), "before");
        assertEq(uint256(anchor.statusAt(d, 2_000)), uint256(ICertificateAnchor.CertStatus.Suspended), "at suspend");
        assertEq(uint256(anchor.statusAt(d, 2_999)), uint256(ICertificateAnchor.CertStatus.Suspended), "suspended");
        assertEq(uint256(anchor.statusAt(d, 3_000)), uint256(ICertificateAnchor.CertStatus.Valid), "reinstated");
        assertEq(uint256(anchor.statusAt(d, 4_000)), uint256(ICertificateAnchor.CertStatus.Revoked), "revoked");
        assertEq(uint256(anchor.statusAt(d, type(uint64).max)), uint256(ICertificateAnchor.CertStatus.Revoked), "now");
        assertEq(uint256(anchor.statusAt(digests[1], 4_000)), uint256(ICertificateAnchor.CertStatus.Valid), "other");

        ICertificateAnchor.StatusChange[] memory h = anchor.statusHistory(d);
        assertEq(h.length, 3, "three changes");
        assertTrue(h[0].status == ICertificateAnchor.CertStatus.Suspended && h[0].blockNumber == 1100, "h0");
        assertTrue(h[1].status == ICertificateAnchor.CertStatus.Valid && h[1].detail == bytes32("ok"), "h1");
        assertTrue(h[2].status == ICertificateAnchor.CertStatus.Revoked && h[2].timestamp == 4_000, "h2");
    }

    /// @dev Random batches of 1..64: any certificate can be revoked with its proof, the others stay valid.
    function testFuzz_RevokeAnyLeaf(uint256 seed, uint8 size, uint256 pick) public {
        uint256 n = bound(size, 1, 64);
        bytes32[] memory ds = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            ds[i] = sha256(abi.encode(seed, i));
        }
        bytes32 r = MerkleBuilder.root(ds);
        _anchor(mktKey, r, uint32(n));
        uint256 k = bound(pick, 0, n - 1);
        bytes32[] memory proof = MerkleBuilder.proof(ds, k);
        vm.prank(mktKey);
        anchor.revoke(r, ds[k], proof, REASON);
        for (uint256 i = 0; i < n; ++i) {
            assertEq(uint256(_status(ds[i])), i == k ? 2 : 0, "only the picked leaf is revoked");
        }
    }
}

/// @dev Drives anchoring and registry churn with a 1-of-1 council owned by the handler; keeps ghost records.
contract AnchorHandler is Test {
    DepartmentRegistry public registry;
    CertificateAnchor public anchor;

    bytes32[3] internal ids = [bytes32("D0"), bytes32("D1"), bytes32("D2")];
    uint256 internal keyCounter = 1;
    uint256 public currentBlock = 10;

    bytes32[] public anchoredRoots;
    mapping(bytes32 root => bytes32 departmentId) public ghostDepartment;
    bytes32[] public rejectedRoots;
    uint256 public ghostCertificates;

    constructor() {
        address[] memory council = new address[](1);
        council[0] = address(this);
        vm.roll(currentBlock);
        registry = new DepartmentRegistry(council, 1);
        anchor = new CertificateAnchor(registry);
        for (uint256 i = 0; i < 3; ++i) {
            registry.propose(IDepartmentRegistry.Action.Register, ids[i], "dept", _newKey(), i == 2 ? 2 : 1);
        }
    }

    function anchoredCount() external view returns (uint256) {
        return anchoredRoots.length;
    }

    function rejectedCount() external view returns (uint256) {
        return rejectedRoots.length;
    }

    function _newKey() internal returns (address) {
        return vm.addr(0xBEEF0000 + keyCounter++);
    }

    /// @dev Each action lands in a fresh block, as separate transactions would.
    function _nextBlock() internal {
        vm.roll(++currentBlock);
    }

    function _id(uint256 seed) internal view returns (bytes32) {
        return ids[seed % 3];
    }

    function anchorBatch(uint256 dept, bytes32 root, uint32 count) external {
        _nextBlock();
        if (root == bytes32(0)) root = bytes32(uint256(1));
        count = uint32(bound(count, 1, 100_000));
        bytes32 id = _id(dept);
        address signer = registry.department(id).signer;
        bool allowed = registry.isActiveSigner(signer, 1);
        (, address existing,,,) = anchor.batch(root);
        vm.prank(signer);
        try anchor.anchorBatch(root, count, bytes32("schema")) {
            require(allowed && existing == address(0), "anchored without authority");
            anchoredRoots.push(root);
            ghostDepartment[root] = id;
            ghostCertificates += count;
        } catch {
            if (existing == address(0)) rejectedRoots.push(root);
        }
    }

    function rotate(uint256 dept) external {
        _nextBlock();
        registry.propose(IDepartmentRegistry.Action.RotateKey, _id(dept), "", _newKey(), 0);
    }

    function toggleSuspension(uint256 dept) external {
        _nextBlock();
        bytes32 id = _id(dept);
        IDepartmentRegistry.Action action = registry.department(id).active
            ? IDepartmentRegistry.Action.Suspend
            : IDepartmentRegistry.Action.Reinstate;
        registry.propose(action, id, "", address(0), 0);
    }

    function setRoles(uint256 dept, uint8 roles) external {
        _nextBlock();
        bytes32 id = _id(dept);
        roles = uint8(bound(roles, 1, 15));
        if (registry.department(id).roles == roles) return;
        registry.propose(IDepartmentRegistry.Action.SetRoles, id, "", address(0), roles);
    }
}

contract CertificateAnchorInvariantTest is Test {
    AnchorHandler internal handler;

    function setUp() public {
        handler = new AnchorHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Every anchored root's signer was an active issuer of the recorded department at its anchoring block.
    function invariant_AnchoredBySignerActiveAtThatBlock() public view {
        CertificateAnchor anchor = handler.anchor();
        DepartmentRegistry registry = handler.registry();
        uint256 n = handler.anchoredCount();
        uint256 total = 0;
        for (uint256 i = 0; i < n; ++i) {
            bytes32 r = handler.anchoredRoots(i);
            (bytes32 dept, address signer, uint32 blockNumber,, uint32 count) = anchor.batch(r);
            assertEq(dept, handler.ghostDepartment(r), "attributed to the anchoring department");
            assertTrue(registry.wasActiveSignerAt(signer, 1, blockNumber), "signer was an active issuer then");
            total += count;
        }
        assertEq(total, handler.ghostCertificates(), "certificate total");
    }

    /// @dev No root is attributed to a caller that was refused (non-issuer, suspended, rotated out).
    function invariant_RejectedRootsStayUnanchored() public view {
        CertificateAnchor anchor = handler.anchor();
        uint256 n = handler.rejectedCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 r = handler.rejectedRoots(i);
            if (handler.ghostDepartment(r) != bytes32(0)) continue; // anchored later by an authorized key
            (, address signer,,,) = anchor.batch(r);
            assertEq(signer, address(0), "refused root is not anchored");
        }
    }
}
