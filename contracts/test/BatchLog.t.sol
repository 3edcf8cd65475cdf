// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./utils/Test.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {BatchLog} from "../src/BatchLog.sol";
import {IBatchLog} from "../src/IBatchLog.sol";
import {DepartmentRegistry} from "../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

contract BatchLogTest is RegistryFixture {
    BatchLog internal log;

    bytes32 internal constant MKT = bytes32("MKT");
    bytes32 internal constant FIN = bytes32("FIN");
    bytes32 internal constant APPROVALS = bytes32("approvals");
    bytes32 internal constant ACCESS = bytes32("access");
    bytes32 internal constant HEAD = bytes32("head");
    bytes32 internal constant ITEM = bytes32("permit/parking");

    address internal mktKey;
    address internal mktKey2;
    address internal finKey;

    function setUp() public {
        _deployRegistry();
        mktKey = makeAddr("mkt-key");
        mktKey2 = makeAddr("mkt-key-2");
        finKey = makeAddr("fin-key");
        vm.roll(499);
        vm.warp(1_800_000_000);
        _register(MKT, mktKey, AUDITOR);
        _register(FIN, finKey, ISSUER | APPROVER);
        _grantItem(FIN, "permit/parking");
        log = new BatchLog(registry);
        vm.roll(500); // a grant counts from the block after its own
    }

    function _r(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("root", i));
    }

    function _anchorLog(address signer, bytes32 logId, bytes32 root, uint64 first, uint64 last) internal {
        vm.prank(signer);
        log.anchorLog(logId, root, first, last, HEAD);
    }

    // ----------------------------------------------------------------- anchorLog

    function test_Views() public view {
        assertEq(log.version(), "3.0.0", "version");
        assertEq(address(log.registry()), address(registry), "registry");
        assertEq(log.nextSequence(MKT, APPROVALS), 1, "starts at 1");
        IBatchLog.LogBatch memory b = log.logBatch(MKT, _r(1));
        assertEq(b.signer, address(0), "unknown root is zero");
        assertEq(b.departmentId, bytes32(0), "unknown root department");
        assertEq(uint256(b.lastSeq), 0, "unknown root range");
    }

    function test_AnchorLog() public {
        vm.expectEmit(true, true, true, true);
        emit IBatchLog.LogBatchAnchored(APPROVALS, MKT, _r(1), 1, 10, HEAD, mktKey);
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 10);

        IBatchLog.LogBatch memory b = log.logBatch(MKT, _r(1));
        assertEq(b.departmentId, MKT, "department");
        assertEq(b.logId, APPROVALS, "log");
        assertEq(b.firstSeq, 1, "first");
        assertEq(b.lastSeq, 10, "last");
        assertEq(b.blockNumber, 500, "block");
        assertEq(b.timestamp, 1_800_000_000, "time");
        assertEq(b.signer, mktKey, "signer");
        assertEq(b.headHash, HEAD, "head");
        assertEq(log.nextSequence(MKT, APPROVALS), 11, "next");

        _anchorLog(mktKey, APPROVALS, _r(2), 11, 11);
        assertEq(log.nextSequence(MKT, APPROVALS), 12, "single-entry batch");
    }

    function test_SequencesAreScopedByDepartmentAndLog() public {
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
        _anchorLog(mktKey, ACCESS, _r(2), 1, 3);
        _anchorLog(finKey, APPROVALS, _r(3), 1, 7);
        assertEq(log.nextSequence(MKT, APPROVALS), 6, "mkt approvals");
        assertEq(log.nextSequence(MKT, ACCESS), 4, "mkt access");
        assertEq(log.nextSequence(FIN, APPROVALS), 8, "fin approvals");
    }

    function test_RotatedKeyContinuesSequence() public {
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
        _rotate(MKT, mktKey2);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, mktKey));
        _anchorLog(mktKey, APPROVALS, _r(2), 6, 9);
        _anchorLog(mktKey2, APPROVALS, _r(2), 6, 9);
        assertEq(log.nextSequence(MKT, APPROVALS), 10, "same department sequence");
    }

    function test_RevertWhen_OutsiderAnchorsLog() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, outsider));
        _anchorLog(outsider, APPROVALS, _r(1), 1, 5);
    }

    function test_RevertWhen_SuspendedDepartmentAnchorsLog() public {
        _suspend(MKT);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, mktKey));
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
    }

    function test_RevertWhen_ZeroRoot() public {
        vm.expectRevert(IBatchLog.LogZeroRoot.selector);
        _anchorLog(mktKey, APPROVALS, bytes32(0), 1, 5);
    }

    function test_RevertWhen_RootReused() public {
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogRootAlreadyAnchored.selector, MKT, _r(1)));
        _anchorLog(mktKey, APPROVALS, _r(1), 6, 7);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogRootAlreadyAnchored.selector, MKT, _r(1)));
        _anchorLog(mktKey, ACCESS, _r(1), 1, 1);
    }

    /// @dev Root squatting: FIN sees MKT's pending anchoring and anchors the same root first. MKT's log still
    /// anchors, its record names MKT's key and range, and the squat lives only in FIN's namespace.
    function test_Attack_RootSquattingCannotBlockOrHijack() public {
        _anchorLog(finKey, ACCESS, _r(1), 1, 1); // front-run
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
        IBatchLog.LogBatch memory mine = log.logBatch(MKT, _r(1));
        assertEq(mine.departmentId, MKT, "victim's record");
        assertEq(mine.signer, mktKey, "victim's key");
        assertEq(mine.logId, APPROVALS, "victim's log");
        assertEq(uint256(mine.lastSeq), 5, "victim's range");
        IBatchLog.LogBatch memory squat = log.logBatch(FIN, _r(1));
        assertEq(squat.signer, finKey, "squat in the attacker's namespace");
        assertEq(log.nextSequence(MKT, APPROVALS), 6, "victim's log continues");
        _anchorLog(finKey, APPROVALS, _r(2), 1, 1);
        _anchorLog(mktKey, APPROVALS, _r(2), 6, 6); // and after the fact
        assertEq(log.logBatch(MKT, _r(2)).signer, mktKey, "post-hoc squat does not block either");
    }

    /// @dev Only approvers decide: the decision log refuses a department without the approver role (MKT is an
    /// auditor), while its other logs stay open to it.
    function test_RevertWhen_NonApproverAnchorsDecisions() public {
        bytes32 decisions = log.decisionsLog();
        assertEq(decisions, sha256("pl-log/decisions"), "decision log id");
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, mktKey));
        _anchorLog(mktKey, decisions, _r(1), 1, 1);
        _anchorLog(mktKey, ACCESS, _r(1), 1, 1);
        _anchorLog(finKey, decisions, _r(2), 1, 3);
        assertEq(log.nextSequence(FIN, decisions), 4, "approver's decisions anchored");
        _setRoles(FIN, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, finKey));
        _anchorLog(finKey, decisions, _r(3), 4, 4);
    }

    function test_RevertWhen_InvalidRange() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogInvalidRange.selector, uint64(5), uint64(4)));
        _anchorLog(mktKey, APPROVALS, _r(1), 5, 4);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogInvalidRange.selector, uint64(1), type(uint64).max));
        _anchorLog(mktKey, APPROVALS, _r(1), 1, type(uint64).max);
    }

    function test_RevertWhen_SequenceGapOrOverlap() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogSequenceGap.selector, MKT, APPROVALS, uint64(1), uint64(2)));
        _anchorLog(mktKey, APPROVALS, _r(1), 2, 5);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogSequenceGap.selector, MKT, APPROVALS, uint64(1), uint64(0)));
        _anchorLog(mktKey, APPROVALS, _r(1), 0, 5);
        _anchorLog(mktKey, APPROVALS, _r(1), 1, 5);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogSequenceGap.selector, MKT, APPROVALS, uint64(6), uint64(5)));
        _anchorLog(mktKey, APPROVALS, _r(2), 5, 9);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogSequenceGap.selector, MKT, APPROVALS, uint64(6), uint64(8)));
        _anchorLog(mktKey, APPROVALS, _r(2), 8, 9);
    }

    /// @dev Consecutive random ranges always chain; nextSequence is one past the last anchored entry.
    function testFuzz_ContiguousRanges(uint64[8] memory sizes) public {
        uint64 next = 1;
        for (uint256 i = 0; i < sizes.length; ++i) {
            uint64 last = next + uint64(bound(sizes[i], 0, 1_000_000));
            _anchorLog(mktKey, APPROVALS, _r(i + 1), next, last);
            next = last + 1;
            assertEq(log.nextSequence(MKT, APPROVALS), next, "next");
        }
    }

    /// @dev Any first sequence other than the expected one is refused with the gap error.
    function testFuzz_GapRejected(uint64 first, uint64 span) public {
        vm.assume(first != 1 && first < type(uint64).max);
        uint64 last = uint64(bound(span, first, type(uint64).max - 1));
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogSequenceGap.selector, MKT, APPROVALS, uint64(1), first));
        _anchorLog(mktKey, APPROVALS, _r(1), first, last);
    }

    // ----------------------------------------------------------------- rule sets

    function test_PublishRuleSet() public {
        bytes32 digest = keccak256("rules v1");
        vm.warp(1_800_000_500);
        vm.expectEmit(true, true, true, true);
        emit IBatchLog.RuleSetPublished(digest, FIN, ITEM);
        vm.prank(finKey);
        log.publishRuleSet(digest, ITEM);
        (bytes32 dept, bytes32 item, uint32 b, uint32 t) = log.ruleSet(FIN, digest);
        assertEq(dept, FIN, "department");
        assertEq(item, ITEM, "item");
        assertEq(b, 500, "block");
        assertEq(t, 1_800_000_500, "time");
    }

    function test_RuleSet_UnknownIsZero() public view {
        (bytes32 dept, bytes32 item, uint32 b, uint32 t) = log.ruleSet(FIN, keccak256("nope"));
        assertEq(dept, bytes32(0), "department");
        assertEq(item, bytes32(0), "item");
        assertEq(uint256(b) + t, 0, "zeros");
    }

    function test_RevertWhen_NonApproverPublishes() public {
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, mktKey));
        vm.prank(mktKey);
        log.publishRuleSet(keccak256("rules"), ITEM);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, outsider));
        vm.prank(outsider);
        log.publishRuleSet(keccak256("rules"), ITEM);
    }

    function test_RevertWhen_SuspendedApproverPublishes() public {
        _suspend(FIN);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.LogUnauthorized.selector, finKey));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("rules"), ITEM);
    }

    function test_RevertWhen_ZeroOrRepublishedRuleSet() public {
        vm.expectRevert(IBatchLog.RuleSetZeroDigest.selector);
        vm.prank(finKey);
        log.publishRuleSet(bytes32(0), ITEM);
        vm.prank(finKey);
        log.publishRuleSet(keccak256("rules"), ITEM);
        _grantItem(FIN, "other");
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetAlreadyPublished.selector, FIN, keccak256("rules")));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("rules"), bytes32("other"));
    }

    /// @dev A department acting outside its authority (red team round 85s): FIN, an approver, publishes rules for a
    /// service item the council never granted it - the tax office deciding social-security subsidies, with its own
    /// key and no library. Refused, naming the department and the item; nothing is recorded.
    function test_Attack_RevertWhen_ItemNotHeld() public {
        bytes32 subsidy = bytes32("ss/subsidy");
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetServiceItemNotHeld.selector, FIN, subsidy));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("subsidy rules"), subsidy);
        (bytes32 dept,,,) = log.ruleSet(FIN, keccak256("subsidy rules"));
        assertEq(dept, bytes32(0), "nothing recorded");
        // every item, "*", is an item of its own: holding one item is not holding all
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetServiceItemNotHeld.selector, FIN, bytes32("*")));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("subsidy rules"), bytes32("*"));
    }

    /// @dev Held now, as the registry says after each transaction (as CertificateAnchor judges a type): from the
    /// grant's execution, not after its revocation's; what was published while held stays published.
    function test_ItemGrantAndRevocation() public {
        bytes32 subsidy = bytes32("ss/subsidy");
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetServiceItemNotHeld.selector, FIN, subsidy));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("v1"), subsidy);
        _grantItem(FIN, "ss/subsidy");
        vm.roll(block.number + 1);
        vm.prank(finKey);
        log.publishRuleSet(keccak256("v1"), subsidy);
        vm.roll(block.number + 1);
        _revokeItem(FIN, "ss/subsidy");
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetServiceItemNotHeld.selector, FIN, subsidy));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("v2"), subsidy);
        (bytes32 dept,,,) = log.ruleSet(FIN, keccak256("v1"));
        assertEq(dept, FIN, "published while held stays published");
    }

    /// @dev Another department's item: MKT's grant is no authority of FIN's.
    function testFuzz_RevertWhen_ItemHeldByAnotherDepartment(bytes32 item) public {
        vm.assume(item != ITEM);
        _setRoles(MKT, AUDITOR | APPROVER);
        _pass(IDepartmentRegistry.Action.GrantServiceItem, MKT, "ss/subsidy", address(0), 0);
        vm.roll(block.number + 1);
        vm.expectRevert(abi.encodeWithSelector(IBatchLog.RuleSetServiceItemNotHeld.selector, FIN, item));
        vm.prank(finKey);
        log.publishRuleSet(keccak256("rules"), item);
    }

    /// @dev Rule set squatting: MKT (an approver too here) copies the digest of FIN's pending publication and
    /// publishes it first. FIN still publishes it, its record names FIN, and the squat lives only in MKT's
    /// namespace: no department can keep another from publishing (hence deciding with) a rule set.
    function test_Attack_RuleSetSquattingCannotBlockOrHijack() public {
        _setRoles(MKT, AUDITOR | APPROVER);
        _grantItem(MKT, "squat");
        vm.roll(block.number + 1);
        bytes32 digest = keccak256("fin rules v1");
        vm.prank(mktKey);
        log.publishRuleSet(digest, bytes32("squat")); // front-run
        vm.roll(block.number + 1);
        vm.expectEmit(true, true, true, true);
        emit IBatchLog.RuleSetPublished(digest, FIN, ITEM);
        vm.prank(finKey);
        log.publishRuleSet(digest, ITEM);
        (bytes32 dept, bytes32 item, uint32 b,) = log.ruleSet(FIN, digest);
        assertEq(dept, FIN, "the author's publication");
        assertEq(item, ITEM, "the author's service item");
        assertEq(b, block.number, "the author's block");
        (bytes32 squatDept, bytes32 squatItem,,) = log.ruleSet(MKT, digest);
        assertEq(squatDept, MKT, "the squat in the squatter's namespace");
        assertEq(squatItem, bytes32("squat"), "the squat's own item");
        (bytes32 none,,,) = log.ruleSet(bytes32("NOBODY"), digest);
        assertEq(none, bytes32(0), "nobody else's");
    }
}

/// @dev Drives anchorLog from two departments over two logs, mostly with the right first sequence, sometimes not.
contract LogHandler is Test {
    DepartmentRegistry public registry;
    BatchLog public log;

    bytes32[2] public departments = [bytes32("D0"), bytes32("D1")];
    address[2] internal keys;
    bytes32[2] public logIds = [bytes32("approvals"), bytes32("access")];
    uint256 internal rootCounter;

    mapping(bytes32 departmentId => mapping(bytes32 logId => uint256)) public ghostEntries;
    bytes32[] public roots;
    bytes32[] public rootDepartments;
    bytes32[] public ruleSetDigests;
    bytes32[] public ruleSetDepartments;
    /// @dev Publications a department made for the other's service item (never granted to it): must stay 0.
    uint256 public foreignPublications;

    constructor() {
        address[] memory council = new address[](1);
        council[0] = address(this);
        registry = new DepartmentRegistry(council, 1);
        log = new BatchLog(registry);
        for (uint256 i = 0; i < 2; ++i) {
            keys[i] = vm.addr(0xC0DE00 + i);
            // auditor and approver: both may anchor these logs and publish rule sets
            registry.propose(IDepartmentRegistry.Action.Register, departments[i], "dept", keys[i], 4 | 8);
            // each holds one service item, its own code ("D0", "D1")
            registry.propose(
                IDepartmentRegistry.Action.GrantServiceItem, departments[i], i == 0 ? "D0" : "D1", address(0), 0
            );
        }
        vm.roll(block.number + 1); // a grant counts from the block after its own
    }

    function rootCount() external view returns (uint256) {
        return roots.length;
    }

    function ruleSetCount() external view returns (uint256) {
        return ruleSetDigests.length;
    }

    /// @dev A department publishes one of a few rule set digests; half the time the other department front-runs
    /// it with the very same digest. Neither may block the other: a publication is refused only when the same
    /// department published that digest before.
    function publishRuleSet(uint256 dept, uint256 pick, bool squat) external {
        bytes32 digest = keccak256(abi.encode("rules", pick % 8));
        if (squat) _publish(dept % 2 + 1, digest);
        _publish(dept, digest);
    }

    function _publish(uint256 dept, bytes32 digest) internal {
        bytes32 departmentId = departments[dept % 2];
        (,, uint32 before,) = log.ruleSet(departmentId, digest);
        vm.prank(keys[dept % 2]);
        try log.publishRuleSet(digest, departmentId) {
            require(before == 0, "published twice by one department");
        } catch {}
        // every attempt, refused or not: the invariant finds one another department's publication blocked
        ruleSetDigests.push(digest);
        ruleSetDepartments.push(departmentId);
    }

    /// @dev Hostile: a department publishes a rule set for the other department's service item, or one no one
    /// holds; the contract must refuse every such publication.
    function publishForeignItem(uint256 dept, uint256 pick, bytes32 item) external {
        bytes32 departmentId = departments[dept % 2];
        if (pick % 2 == 0) item = departments[(dept + 1) % 2];
        if (item == departmentId) return;
        vm.prank(keys[dept % 2]);
        try log.publishRuleSet(keccak256(abi.encode("foreign", pick)), item) {
            ++foreignPublications;
        } catch {}
    }

    function anchorLog(uint256 dept, uint256 logIndex, uint64 span, uint64 skew) external {
        bytes32 departmentId = departments[dept % 2];
        bytes32 logId = logIds[logIndex % 2];
        uint64 next = log.nextSequence(departmentId, logId);
        // One call in four tries a wrong start; those must be refused.
        uint64 first = skew % 4 == 0 ? next + uint64(bound(skew, 1, 3)) : next;
        uint64 last = first + uint64(bound(span, 0, 50));
        bytes32 root = keccak256(abi.encode(++rootCounter));
        // Hostile half the time: the other department front-runs with the very same root in its own log.
        if (span % 2 == 0) _frontRun(dept + 1, logIndex + 1, root);
        _anchor(dept, logIndex, root, first, last - first);
        require(first != next || log.logBatch(departmentId, root).signer == keys[dept % 2], "squatted");
    }

    function _frontRun(uint256 dept, uint256 logIndex, bytes32 root) internal {
        _anchor(dept, logIndex, root, log.nextSequence(departments[dept % 2], logIds[logIndex % 2]), 0);
    }

    function _anchor(uint256 dept, uint256 logIndex, bytes32 root, uint64 first, uint64 extra) internal {
        bytes32 departmentId = departments[dept % 2];
        bytes32 logId = logIds[logIndex % 2];
        uint64 next = log.nextSequence(departmentId, logId);
        uint64 last = first + extra;
        vm.prank(keys[dept % 2]);
        try log.anchorLog(logId, root, first, last, bytes32(rootCounter)) {
            require(first == next, "gap accepted");
            ghostEntries[departmentId][logId] += last - first + 1;
            roots.push(root);
            rootDepartments.push(departmentId);
        } catch {
            require(first != next, "contiguous range refused, or blocked by another department's root");
        }
    }
}

contract BatchLogInvariantTest is Test {
    LogHandler internal handler;

    function setUp() public {
        handler = new LogHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev nextSequence == 1 + total entries anchored, per department and log.
    function invariant_NextSequenceCountsAnchoredEntries() public view {
        BatchLog log = handler.log();
        for (uint256 d = 0; d < 2; ++d) {
            for (uint256 l = 0; l < 2; ++l) {
                bytes32 dept = handler.departments(d);
                bytes32 logId = handler.logIds(l);
                assertEq(uint256(log.nextSequence(dept, logId)), 1 + handler.ghostEntries(dept, logId), "next sequence");
            }
        }
    }

    /// @dev Every anchored batch is attributed to its signer's department.
    function invariant_BatchesAttributedToSignerDepartment() public view {
        BatchLog log = handler.log();
        DepartmentRegistry registry = handler.registry();
        uint256 n = handler.rootCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 dept = handler.rootDepartments(i);
            IBatchLog.LogBatch memory b = log.logBatch(dept, handler.roots(i));
            assertEq(b.departmentId, dept, "namespace of the anchoring department");
            assertEq(b.departmentId, registry.departmentOf(b.signer), "department of signer");
            assertTrue(b.firstSeq <= b.lastSeq, "range");
        }
    }

    /// @dev Every department that tried to publish a rule set has it published, in its own namespace, with its
    /// own service item, whoever published the same digest before.
    function invariant_RuleSetsAttributedToTheirPublisher() public view {
        BatchLog log = handler.log();
        uint256 n = handler.ruleSetCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 dept = handler.ruleSetDepartments(i);
            (bytes32 publisher, bytes32 item, uint32 blockNumber,) = log.ruleSet(dept, handler.ruleSetDigests(i));
            assertEq(publisher, dept, "namespace of the publishing department");
            assertEq(item, dept, "its own publication");
            assertTrue(blockNumber != 0, "published");
        }
    }

    /// @dev No department ever published a rule set for a service item it did not hold (red team round 85s).
    function invariant_NoRuleSetForAnItemNotHeld() public view {
        assertEq(handler.foreignPublications(), 0, "a rule set for another department's item");
    }
}
