// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Test} from "./utils/Test.sol";
import {RegistryFixture} from "./utils/RegistryFixture.sol";
import {DepartmentRegistry} from "../src/DepartmentRegistry.sol";
import {IDepartmentRegistry} from "../src/IDepartmentRegistry.sol";

/// @dev Signs approvals the way an off-line council member does (EIP-712 over the registry's domain).
abstract contract ApprovalSigner is Test {
    function _sig(DepartmentRegistry reg, uint256 key, uint256 proposalId, uint256 deadline)
        internal
        view
        returns (IDepartmentRegistry.SignedApproval memory a)
    {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, reg.approvalDigest(proposalId, deadline));
        a = IDepartmentRegistry.SignedApproval({
            member: vm.addr(key), deadline: deadline, signature: abi.encodePacked(r, s, v)
        });
    }

    function _one(IDepartmentRegistry.SignedApproval memory a)
        internal
        pure
        returns (IDepartmentRegistry.SignedApproval[] memory list)
    {
        list = new IDepartmentRegistry.SignedApproval[](1);
        list[0] = a;
    }
}

/// @dev Expiry, rejection, cancellation, council changes and signed approvals, including the attacks on them.
contract DepartmentRegistryGovernanceTest is RegistryFixture, ApprovalSigner {
    bytes32 internal constant MKT = bytes32("MKT");
    IDepartmentRegistry.Action internal constant REGISTER = IDepartmentRegistry.Action.Register;
    IDepartmentRegistry.Action internal constant ADD = IDepartmentRegistry.Action.AddMember;
    IDepartmentRegistry.Action internal constant REMOVE = IDepartmentRegistry.Action.RemoveMember;
    IDepartmentRegistry.Action internal constant SET_THRESHOLD = IDepartmentRegistry.Action.SetThreshold;

    uint256 internal k0 = uint256(keccak256("council0"));
    uint256 internal k1 = uint256(keccak256("council1"));
    uint256 internal k2 = uint256(keccak256("council2"));
    uint256 internal kOutsider = uint256(keccak256("outsider"));
    address internal mktKey;

    function setUp() public {
        _deployRegistry();
        mktKey = makeAddr("mkt-key");
        vm.roll(100);
        vm.warp(1_000_000);
    }

    function _proposeRegister() internal returns (uint256 id) {
        vm.prank(m0);
        id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
    }

    function _state(uint256 id) internal view returns (uint256) {
        return uint256(registry.proposalState(id));
    }

    // ----------------------------------------------------------------- votes bound to what was shown

    /// @dev The chain's operator, with one colluding member, shows m1 proposal `id` "register MKT", then rewrites
    /// the chain from before it so that `id` names a council change adding an outsider. m1's vote names the hash
    /// of what it was shown: approving or rejecting the other content under that number reverts.
    function test_Attack_VoteBoundToTheProposalShown() public {
        uint256 before = vm.snapshotState();
        uint256 id = _proposeRegister();
        bytes32 shown = registry.proposalHash(id);
        assertTrue(vm.revertToState(before), "history rewritten");
        vm.prank(m0);
        uint256 other = registry.propose(ADD, bytes32(0), "", vm.addr(kOutsider), 0);
        assertEq(other, id, "the same number");
        bytes32 actual = registry.proposalHash(id);
        assertTrue(actual != shown, "other content");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalChanged.selector, id, shown, actual));
        vm.prank(m1);
        registry.approveProposal(id, shown);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalChanged.selector, id, shown, actual));
        vm.prank(m1);
        registry.rejectProposal(id, shown);
        assertFalse(registry.isCouncilMember(vm.addr(kOutsider)), "nothing executed");
        assertFalse(registry.hasApproved(id, m1), "no vote counted");
        // a vote naming what the number does hold counts as ever
        vm.prank(m1);
        registry.approveProposal(id, actual);
        assertTrue(registry.isCouncilMember(vm.addr(kOutsider)), "executed at the threshold");
    }

    function test_RejectProposal_CountsAgainstTheContentShown() public {
        uint256 id = _proposeRegister();
        bytes32 shown = registry.proposalHash(id);
        vm.prank(m1);
        registry.rejectProposal(id, shown);
        assertTrue(registry.hasRejected(id, m1), "rejected");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyRejected.selector, id, m1));
        vm.prank(m1);
        registry.approveProposal(id, shown);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, mktKey));
        vm.prank(mktKey);
        registry.approveProposal(id, shown);
    }

    // ----------------------------------------------------------------- expiry

    function test_Expiry_RecordedAndEnforced() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.Proposal memory p = registry.proposal(id);
        assertEq(p.expiresAt, 1_000_000 + 7 days, "expires a week on");
        assertEq(p.councilEpoch, 1, "epoch");
        vm.warp(1_000_000 + 7 days - 1);
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Open), "open until the last second");
        vm.warp(1_000_000 + 7 days);
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Expired), "expired");
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalExpired.selector, id, uint64(1_000_000 + 7 days))
        );
        vm.prank(m1);
        registry.approve(id);
        IDepartmentRegistry.SignedApproval memory signed1 = _sig(registry, k1, id, type(uint256).max);
        vm.expectRevert(
            abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalExpired.selector, id, uint64(1_000_000 + 7 days))
        );
        registry.approveWithSignatures(id, _one(signed1));
        assertEq(registry.departmentOf(mktKey), bytes32(0), "never executed");
    }

    // ----------------------------------------------------------------- rejection and cancellation

    function test_Reject_DefeatsWhenThresholdOutOfReach() public {
        uint256 id = _proposeRegister();
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalRejected(id, m1, 1);
        vm.prank(m1);
        registry.reject(id);
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Open), "m2 can still pass it");
        assertTrue(registry.hasRejected(id, m1), "recorded");
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalDefeated(id);
        vm.prank(m2);
        registry.reject(id);
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Defeated), "defeated");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalDefeated.selector, id));
        vm.prank(m2);
        registry.approve(id);
    }

    function test_RevertWhen_VotingTwiceEitherWay() public {
        uint256 id = _proposeRegister();
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyApproved.selector, id, m0));
        vm.prank(m0);
        registry.reject(id);
        vm.prank(m1);
        registry.reject(id);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyRejected.selector, id, m1));
        vm.prank(m1);
        registry.approve(id);
        IDepartmentRegistry.SignedApproval memory signed2 = _sig(registry, k1, id, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyRejected.selector, id, m1));
        registry.approveWithSignatures(id, _one(signed2));
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, outsider));
        vm.prank(outsider);
        registry.reject(id);
    }

    function test_Cancel_OnlyProposerAndNeverExecutes() public {
        uint256 id = _proposeRegister();
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotProposer.selector, id, m0, m1));
        vm.prank(m1);
        registry.cancel(id);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalCancelled(id, m0);
        vm.prank(m0);
        registry.cancel(id);
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Cancelled), "cancelled");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalCancelled.selector, id));
        vm.prank(m1);
        registry.approve(id);
        IDepartmentRegistry.SignedApproval memory signed3 = _sig(registry, k1, id, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalCancelled.selector, id));
        registry.approveWithSignatures(id, _one(signed3));
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalCancelled.selector, id));
        vm.prank(m0);
        registry.cancel(id);
        assertEq(registry.departmentOf(mktKey), bytes32(0), "never executed");
    }

    // ----------------------------------------------------------------- signed approvals

    function test_Signatures_AnyoneRelaysAndItExecutes() public {
        uint256 id = _proposeRegister();
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalApproved(id, m2, 2);
        vm.prank(outsider); // a relayer that is no member
        registry.approveWithSignatures(id, _one(_sig(registry, k2, id, block.timestamp + 1 hours)));
        assertTrue(registry.isActiveSigner(mktKey, ISSUER), "executed");
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Executed), "executed state");
    }

    function test_Signatures_AllVotesOffLine() public {
        vm.prank(m0);
        uint256 id = registry.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        IDepartmentRegistry.SignedApproval[] memory two = new IDepartmentRegistry.SignedApproval[](2);
        two[0] = _sig(registry, k1, id, block.timestamp);
        two[1] = _sig(registry, k2, id, block.timestamp); // not looked at: the first one reaches the threshold
        registry.approveWithSignatures(id, two);
        assertTrue(registry.hasApproved(id, m1), "m1 counted");
        assertFalse(registry.hasApproved(id, m2), "m2 not needed");
        assertTrue(registry.proposal(id).executed, "executed");
    }

    /// @dev A signature sent again (alone, or twice in one batch) is skipped (2.5.0): it counted once and counts
    /// nothing more, and no event says it did.
    function test_Signatures_ReplayedOnSameProposalCountsOnce() public {
        address[] memory four = new address[](4);
        (four[0], four[1], four[2], four[3]) = (m0, m1, m2, makeAddr("council3"));
        DepartmentRegistry reg = new DepartmentRegistry(four, 4);
        vm.prank(m0);
        uint256 id = reg.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        IDepartmentRegistry.SignedApproval memory a = _sig(reg, k1, id, block.timestamp);
        reg.approveWithSignatures(id, _one(a));
        vm.recordLogs();
        reg.approveWithSignatures(id, _one(a));
        assertEq(vm.getRecordedLogs().length, 0, "a replay emits nothing");
        assertEq(reg.proposal(id).approvals, 2, "m0 and m1 once each");
        IDepartmentRegistry.SignedApproval[] memory twice = new IDepartmentRegistry.SignedApproval[](2);
        twice[0] = _sig(reg, k2, id, block.timestamp);
        twice[1] = twice[0];
        vm.recordLogs();
        reg.approveWithSignatures(id, twice);
        assertEq(vm.getRecordedLogs().length, 1, "one ProposalApproved for m2");
        assertEq(reg.proposal(id).approvals, 3, "m2 once");
        assertFalse(reg.proposal(id).executed, "a fourth is needed");
    }

    /// @dev A relay (or a gateway) holding a batch of signed approvals submits one of them on its own first: in
    /// 2.4.0 the batch then reverted whole (`RegistryAlreadyApproved`), voiding the other members' approvals each
    /// time (red team round 59). The counted one is skipped and the others count: the proposal executes.
    function test_Attack_RelayFrontRunsOneSignatureOfABatch() public {
        address[] memory four = new address[](4);
        (four[0], four[1], four[2], four[3]) = (m0, m1, m2, makeAddr("council3"));
        DepartmentRegistry reg = new DepartmentRegistry(four, 4);
        vm.prank(m0);
        uint256 id = reg.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        IDepartmentRegistry.SignedApproval[] memory batch = new IDepartmentRegistry.SignedApproval[](3);
        batch[0] = _sig(reg, k1, id, block.timestamp + 1 hours);
        batch[1] = _sig(reg, k2, id, block.timestamp + 1 hours);
        batch[2] = _sig(reg, uint256(keccak256("council3")), id, block.timestamp + 1 hours);
        vm.prank(outsider); // the relay, ahead of the batch
        reg.approveWithSignatures(id, _one(batch[1]));
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalApproved(id, m1, 3);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ProposalApproved(id, four[3], 4);
        reg.approveWithSignatures(id, batch);
        assertEq(reg.proposal(id).approvals, 4, "each member once");
        assertTrue(reg.isActiveSigner(mktKey, ISSUER), "executed");
    }

    /// @dev Skipping is for an approval that counts already: a forged one, or one of a member who rejected, still
    /// reverts the batch (it would count for nothing, and the submitter must learn which).
    function test_RevertWhen_BatchHoldsARejectingMembersSignature() public {
        uint256 id = _proposeRegister();
        vm.prank(m1);
        registry.reject(id);
        IDepartmentRegistry.SignedApproval[] memory batch = new IDepartmentRegistry.SignedApproval[](2);
        batch[0] = _sig(registry, k0, id, block.timestamp); // m0's, counted when it proposed: skipped
        batch[1] = _sig(registry, k1, id, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyRejected.selector, id, m1));
        registry.approveWithSignatures(id, batch);
        registry.approveWithSignatures(id, _one(batch[0]));
        assertEq(registry.proposal(id).approvals, 1, "m0 once");
    }

    function test_RevertWhen_SignatureForAnotherProposal() public {
        uint256 first = _proposeRegister();
        vm.prank(m0);
        uint256 second = registry.propose(REGISTER, bytes32("FIN"), "Finance", makeAddr("fin"), ISSUER);
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, k1, first, block.timestamp);
        vm.expectRevert(); // recovers to some other address: RegistryInvalidSignature(m1, <garbage>)
        registry.approveWithSignatures(second, _one(a));
        assertFalse(registry.hasApproved(second, m1), "not counted");
    }

    function test_RevertWhen_SignatureForAnotherChain() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, k1, id, block.timestamp);
        vm.chainId(4242);
        vm.expectRevert();
        registry.approveWithSignatures(id, _one(a));
        assertFalse(registry.hasApproved(id, m1), "not counted");
    }

    function test_RevertWhen_SignatureForAnotherRegistry() public {
        address[] memory same = registry.councilMembers();
        DepartmentRegistry other = new DepartmentRegistry(same, 2);
        vm.prank(m0);
        uint256 idOther = other.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        uint256 id = _proposeRegister();
        assertEq(id, idOther, "same proposal id and content in both registries");
        IDepartmentRegistry.SignedApproval memory a = _sig(other, k1, id, block.timestamp);
        vm.expectRevert();
        registry.approveWithSignatures(id, _one(a));
        other.approveWithSignatures(id, _one(a)); // valid where it was meant
        assertTrue(other.proposal(id).executed, "executed in the other registry");
        assertFalse(registry.proposal(id).executed, "not here");
    }

    function test_RevertWhen_SignatureByOutsiderOrForgedMember() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, kOutsider, id, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, outsider));
        registry.approveWithSignatures(id, _one(a));
        a.member = m1; // claims to be m1, signed by the outsider
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidSignature.selector, m1, outsider));
        registry.approveWithSignatures(id, _one(a));
    }

    function test_RevertWhen_SignatureMalformedOrMalleable() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, k1, id, block.timestamp);
        bytes memory sig = a.signature;
        bytes32 r;
        bytes32 s;
        uint8 v = uint8(sig[64]);
        assembly {
            r := mload(add(sig, 32))
            s := mload(add(sig, 64))
        }
        uint256 n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;
        a.signature = abi.encodePacked(r, bytes32(n - uint256(s)), v == 27 ? uint8(28) : uint8(27));
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidSignature.selector, m1, address(0)));
        registry.approveWithSignatures(id, _one(a));
        a.signature = abi.encodePacked(r, s);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidSignature.selector, m1, address(0)));
        registry.approveWithSignatures(id, _one(a));
    }

    function test_RevertWhen_SignaturePastDeadline() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, k1, id, block.timestamp + 60);
        vm.warp(block.timestamp + 61);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignatureExpired.selector, m1, a.deadline));
        registry.approveWithSignatures(id, _one(a));
    }

    // ----------------------------------------------------------------- council changes

    function test_RemoveMember_FormerMemberSignatureRefused() public {
        _pass(REMOVE, bytes32(0), "", m2, 0);
        assertFalse(registry.isCouncilMember(m2), "m2 left");
        assertEq(registry.councilMembers().length, 2, "two left");
        assertEq(registry.councilEpoch(), 2, "epoch moved");
        uint256 id = _proposeRegister();
        // m2 still holds its key and signs for the current epoch: the chain asks the council of this block.
        IDepartmentRegistry.SignedApproval memory signed4 = _sig(registry, k2, id, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, m2));
        registry.approveWithSignatures(id, _one(signed4));
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, m2));
        vm.prank(m2);
        registry.approve(id);
    }

    function test_CouncilChange_MakesOlderProposalsStale() public {
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory early = _sig(registry, k2, id, block.timestamp);
        address newcomer = makeAddr("council3");
        vm.prank(m0);
        uint256 change = registry.propose(ADD, bytes32(0), "", newcomer, 0);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.CouncilMemberAdded(newcomer, 2);
        vm.prank(m1);
        registry.approve(change);
        assertTrue(registry.isCouncilMember(newcomer), "joined");
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Stale), "stale");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalStale.selector, id, 1, 2));
        registry.approveWithSignatures(id, _one(early));
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalStale.selector, id, 1, 2));
        vm.prank(m1);
        registry.approve(id);
    }

    function test_SetThreshold() public {
        vm.prank(m0);
        uint256 change = registry.propose(SET_THRESHOLD, bytes32(0), "", address(0), 3);
        vm.expectEmit(true, true, true, true);
        emit IDepartmentRegistry.ThresholdChanged(3, 2);
        vm.prank(m1);
        registry.approve(change);
        assertEq(registry.threshold(), 3, "3 of 3");
        uint256 id = _proposeRegister();
        vm.prank(m1);
        registry.approve(id);
        assertFalse(registry.proposal(id).executed, "two approvals no longer enough");
        registry.approveWithSignatures(id, _one(_sig(registry, k2, id, block.timestamp)));
        assertTrue(registry.proposal(id).executed, "third executes");
    }

    function test_RevertWhen_InvalidCouncilChanges() public {
        vm.startPrank(m0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyCouncilMember.selector, m1));
        registry.propose(ADD, bytes32(0), "", m1, 0);
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidCouncil.selector);
        registry.propose(ADD, bytes32(0), "", address(0), 0);
        vm.expectRevert(IDepartmentRegistry.RegistryInvalidDepartmentId.selector);
        registry.propose(ADD, MKT, "", outsider, 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, outsider));
        registry.propose(REMOVE, bytes32(0), "", outsider, 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(4), 3));
        registry.propose(SET_THRESHOLD, bytes32(0), "", address(0), 4);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(0), 3));
        registry.propose(SET_THRESHOLD, bytes32(0), "", address(0), 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(2), 3));
        registry.propose(SET_THRESHOLD, bytes32(0), "", address(0), 2);
        vm.stopPrank();
        _pass(SET_THRESHOLD, bytes32(0), "", address(0), 3);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryInvalidThreshold.selector, uint8(3), 2));
        vm.prank(m0);
        registry.propose(REMOVE, bytes32(0), "", m2, 0);
    }

    // ----------------------------------------------------------------- red team round 42

    /// @dev One key both a council member and a department's: the department's own key could vote on its own
    /// matters (the types it may issue, its suspension). A hostile member proposes its own address as a new
    /// department's key or as a department's new key; or a department key is proposed as a member.
    function test_Attack_CouncilMemberAsDepartmentKeyRefused() public {
        vm.startPrank(m0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerIsCouncilMember.selector, m0));
        registry.propose(REGISTER, MKT, "Marketing", m0, ISSUER);
        vm.stopPrank();
        _register(MKT, mktKey, ISSUER);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistrySignerIsCouncilMember.selector, m1));
        vm.prank(m0);
        registry.propose(IDepartmentRegistry.Action.RotateKey, MKT, "", m1, 0);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryMemberIsDepartmentKey.selector, mktKey, MKT));
        vm.prank(m0);
        registry.propose(ADD, bytes32(0), "", mktKey, 0);
        // a key rotated out stays its department's for good: never a member either
        address next = makeAddr("mkt-key-2");
        _rotate(MKT, next);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryMemberIsDepartmentKey.selector, mktKey, MKT));
        vm.prank(m0);
        registry.propose(ADD, bytes32(0), "", mktKey, 0);
    }

    /// @dev The race: X's addition to the council is proposed, and meanwhile a department is registered with key X
    /// (a department change leaves the council proposal open). The addition is refused when it would execute.
    function test_Attack_CouncilMemberAsDepartmentKeyRaceRefusedAtExecution() public {
        address x = makeAddr("both");
        vm.prank(m0);
        uint256 add = registry.propose(ADD, bytes32(0), "", x, 0);
        _register(MKT, x, ISSUER);
        assertEq(_state(add), uint256(IDepartmentRegistry.ProposalState.Open), "still open");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryMemberIsDepartmentKey.selector, x, MKT));
        vm.prank(m1);
        registry.approve(add);
        assertFalse(registry.isCouncilMember(x), "never both");
    }

    /// @dev One vote per member whatever the path: an approval by transaction then by signature, and the other
    /// way round, count once.
    function test_Attack_OneVotePerMemberAcrossPaths() public {
        address[] memory four = new address[](4);
        (four[0], four[1], four[2], four[3]) = (m0, m1, m2, makeAddr("council3"));
        DepartmentRegistry reg = new DepartmentRegistry(four, 4);
        vm.prank(m0);
        uint256 id = reg.propose(REGISTER, MKT, "Marketing", mktKey, ISSUER);
        vm.prank(m1);
        reg.approve(id);
        IDepartmentRegistry.SignedApproval memory again = _sig(reg, k1, id, block.timestamp);
        reg.approveWithSignatures(id, _one(again)); // skipped: it counts already
        assertEq(reg.proposal(id).approvals, 2, "m1 once");
        reg.approveWithSignatures(id, _one(_sig(reg, k2, id, block.timestamp)));
        bytes32 shown = reg.proposalHash(id);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryAlreadyApproved.selector, id, m2));
        vm.prank(m2);
        reg.approveProposal(id, shown);
        assertEq(reg.proposal(id).approvals, 3, "three members, three votes");
        assertFalse(reg.proposal(id).executed, "a fourth is needed");
    }

    /// @dev A member removed and added again votes afresh: what it approved before it left counts for nothing
    /// (those proposals are stale) and a new proposal needs its new vote.
    function test_Attack_MemberRemovedAndReaddedStartsAfresh() public {
        uint256 id = _proposeRegister();
        _pass(REMOVE, bytes32(0), "", m0, 0);
        vm.prank(m1);
        uint256 back = registry.propose(ADD, bytes32(0), "", m0, 0);
        vm.prank(m2);
        registry.approve(back);
        assertTrue(registry.isCouncilMember(m0), "back");
        assertEq(_state(id), uint256(IDepartmentRegistry.ProposalState.Stale), "its old proposal stays stale");
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryProposalStale.selector, id, 1, 3));
        vm.prank(m1);
        registry.approve(id);
    }

    // ----------------------------------------------------------------- fuzz

    /// @dev No signature by a key outside the council counts, whatever the key and deadline.
    function testFuzz_OutsiderSignatureNeverCounts(uint256 key, uint256 deadline) public {
        key = bound(key, 1, 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364140);
        vm.assume(key != k0 && key != k1 && key != k2);
        deadline = bound(deadline, block.timestamp, type(uint256).max);
        uint256 id = _proposeRegister();
        IDepartmentRegistry.SignedApproval memory signed5 = _sig(registry, key, id, deadline);
        vm.expectRevert(abi.encodeWithSelector(IDepartmentRegistry.RegistryNotCouncilMember.selector, vm.addr(key)));
        registry.approveWithSignatures(id, _one(signed5));
    }

    /// @dev Whatever time passes, a proposal executes only before its expiry.
    function testFuzz_ExecutesOnlyBeforeExpiry(uint256 wait) public {
        wait = bound(wait, 0, 30 days);
        uint256 id = _proposeRegister();
        vm.warp(block.timestamp + wait);
        if (wait < 7 days) {
            registry.approveWithSignatures(id, _one(_sig(registry, k1, id, block.timestamp)));
            assertTrue(registry.proposal(id).executed, "executed in time");
        } else {
            IDepartmentRegistry.SignedApproval memory signed6 = _sig(registry, k1, id, block.timestamp);
            vm.expectRevert();
            registry.approveWithSignatures(id, _one(signed6));
        }
    }
}

/// @dev A hostile mix of actors: members voting, an outsider and a former member signing, replays of every
/// signature seen, cancellations and time passing. Ghost state records what a sound registry must do.
contract GovernanceHandler is ApprovalSigner {
    DepartmentRegistry public registry;
    uint256[3] internal keys;
    uint256 internal constant OUTSIDER_KEY = 0xBAD;
    uint256 public unauthorisedExecutions; // executions whose approvals did not all come from current members
    uint256 public registered;
    IDepartmentRegistry.SignedApproval[] internal seen;
    uint256[] internal seenFor;
    uint256 internal proposed;
    bool public removed;

    constructor() {
        address[] memory members = new address[](3);
        for (uint256 i = 0; i < 3; ++i) {
            keys[i] = 0xC0C0 + i;
            members[i] = vm.addr(keys[i]);
        }
        registry = new DepartmentRegistry(members, 2);
    }

    function _member(uint256 i) internal view returns (address) {
        return vm.addr(keys[i % 3]);
    }

    function _latest() internal view returns (uint256) {
        return registry.proposalCount();
    }

    /// @dev Department `n`'s code, "G" and `n` in decimal (a code the registry takes: 2.3.0 refuses any other; the
    /// ids this handler used before, 1 << 200 + n, were refused, so no registration ever executed here), and key.
    function _code(uint256 n) internal pure returns (bytes32 id) {
        bytes memory digits = new bytes(0);
        do {
            digits = bytes.concat(bytes1(uint8(48 + n % 10)), digits);
            n /= 10;
        } while (n > 0);
        id = bytes32(bytes.concat("G", digits));
    }

    function _key(uint256 n) internal pure returns (address) {
        return address(uint160(uint256(keccak256(abi.encode("governance-handler-key", n)))));
    }

    function propose(uint256 who) external {
        ++proposed;
        vm.prank(_member(who));
        try registry.propose(IDepartmentRegistry.Action.Register, _code(proposed), "d", _key(proposed), 1) {} catch {}
    }

    /// @dev Hostile (round 42): a member proposes a member's address (its own, or another's) as a department key.
    function memberAsKey(uint256 who, uint256 target) external {
        ++proposed;
        address key = _member(target);
        bool member = registry.isCouncilMember(key); // a former member (removeMemberTwo) may become a key
        vm.prank(_member(who));
        try registry.propose(IDepartmentRegistry.Action.Register, _code(proposed), "d", key, 1) {
            if (member) unauthorisedExecutions += 1; // it must have reverted
        } catch {}
    }

    /// @dev Hostile (round 42): a member proposes a department's key as a new council member.
    function keyAsMember(uint256 who, uint256 pick) external {
        if (proposed == 0) return;
        address key = _key(bound(pick, 1, proposed));
        if (registry.departmentOf(key) == bytes32(0)) return;
        vm.prank(_member(who));
        try registry.propose(IDepartmentRegistry.Action.AddMember, bytes32(0), "", key, 0) {
            unauthorisedExecutions += 1; // it must have reverted
        } catch {}
    }

    function approve(uint256 who, uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        vm.prank(_member(who));
        try registry.approve(bound(pick, 1, n)) {} catch {}
    }

    function reject(uint256 who, uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        vm.prank(_member(who));
        try registry.reject(bound(pick, 1, n)) {} catch {}
    }

    function cancel(uint256 who, uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        vm.prank(_member(who));
        try registry.cancel(bound(pick, 1, n)) {} catch {}
    }

    function signAndSubmit(uint256 who, uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        uint256 id = bound(pick, 1, n);
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, keys[who % 3], id, block.timestamp + 1 days);
        seen.push(a);
        seenFor.push(id);
        try registry.approveWithSignatures(id, _one(a)) {} catch {}
    }

    /// @dev The outsider signs: this must never count.
    function outsiderSigns(uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        uint256 id = bound(pick, 1, n);
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, OUTSIDER_KEY, id, block.timestamp + 1 days);
        bool before = registry.proposal(id).executed;
        try registry.approveWithSignatures(id, _one(a)) {
            unauthorisedExecutions += 1; // it must have reverted
        } catch {}
        if (!before && registry.proposal(id).executed) unauthorisedExecutions += 1;
    }

    /// @dev Any signature seen so far, against any proposal: counts only where it was meant and only once.
    function replay(uint256 which, uint256 pick) external {
        if (seen.length == 0) return;
        uint256 i = bound(which, 0, seen.length - 1);
        uint256 n = _latest();
        uint256 id = bound(pick, 1, n);
        IDepartmentRegistry.SignedApproval memory a = seen[i];
        bool approvedBefore = registry.hasApproved(id, a.member);
        uint8 approvals = registry.proposal(id).approvals;
        try registry.approveWithSignatures(id, _one(a)) {
            // a counted approval is skipped (2.5.0): taken, but counting nothing more
            if (approvedBefore ? registry.proposal(id).approvals != approvals : id != seenFor[i]) {
                unauthorisedExecutions += 1;
            }
        } catch {}
    }

    /// @dev Hostile (round 59): a relay sends one signature of a batch ahead of it, then the batch with that
    /// signature in it twice; each member counts once, and the batch is never voided by the one sent first.
    function frontRunBatch(uint256 first, uint256 pick) external {
        uint256 n = _latest();
        if (n == 0) return;
        uint256 id = bound(pick, 1, n);
        IDepartmentRegistry.SignedApproval[] memory batch = new IDepartmentRegistry.SignedApproval[](4);
        for (uint256 k = 0; k < 3; ++k) {
            batch[k] = _sig(registry, keys[k], id, block.timestamp + 1 days);
        }
        batch[3] = batch[first % 3];
        try registry.approveWithSignatures(id, _one(batch[first % 3])) {} catch {}
        uint8 approvals = registry.proposal(id).approvals;
        bool wasOpen = registry.proposalState(id) == IDepartmentRegistry.ProposalState.Open;
        uint256 newVoters = 0;
        for (uint256 k = 0; k < 3; ++k) {
            address m = vm.addr(keys[k]);
            if (registry.isCouncilMember(m) && !registry.hasApproved(id, m) && !registry.hasRejected(id, m)) {
                ++newVoters;
            }
        }
        try registry.approveWithSignatures(id, batch) {
            if (registry.proposal(id).approvals > approvals + newVoters) unauthorisedExecutions += 1;
        } catch {
            // open, every member current and none rejected: only a front-run could have voided it, and it must not
            if (wasOpen && !removed && registry.proposal(id).rejections == 0) {
                unauthorisedExecutions += 1;
            }
        }
    }

    /// @dev Once: members 0 and 1 remove member 2, who keeps its key and goes on signing (formerMemberSigns).
    function removeMemberTwo() external {
        if (removed) return;
        vm.prank(_member(0));
        uint256 id = registry.propose(IDepartmentRegistry.Action.RemoveMember, bytes32(0), "", _member(2), 0);
        vm.prank(_member(1));
        registry.approve(id);
        removed = true;
    }

    /// @dev The removed member signs approvals for the current epoch: they must never count.
    function formerMemberSigns(uint256 pick) external {
        uint256 n = _latest();
        if (!removed || n == 0) return;
        uint256 id = bound(pick, 1, n);
        IDepartmentRegistry.SignedApproval memory a = _sig(registry, keys[2], id, block.timestamp + 1 days);
        try registry.approveWithSignatures(id, _one(a)) {
            unauthorisedExecutions += 1;
        } catch {}
        vm.prank(_member(2));
        try registry.approve(id) {
            unauthorisedExecutions += 1;
        } catch {}
    }

    function passTime(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 0, 3 days));
    }

    function seenCount() external view returns (uint256) {
        return seen.length;
    }
}

contract DepartmentRegistryGovernanceInvariantTest is Test {
    GovernanceHandler internal handler;

    function setUp() public {
        vm.warp(1_000_000);
        handler = new GovernanceHandler();
    }

    function targetContracts() public view returns (address[] memory targets) {
        targets = new address[](1);
        targets[0] = address(handler);
    }

    /// @dev Every executed proposal had at least the threshold of member approvals; no outsider, former member or
    /// replayed signature ever counted; a current proposal's approvals are exactly its current members' votes.
    function invariant_OnlyThresholdOfMembersExecutes() public view {
        DepartmentRegistry reg = handler.registry();
        assertEq(handler.unauthorisedExecutions(), 0, "an unauthorised approval counted");
        address[] memory council = reg.councilMembers();
        for (uint256 i = 0; i < council.length; ++i) {
            assertEq(reg.departmentOf(council[i]), bytes32(0), "a council member is a department key");
        }
        uint256 n = reg.proposalCount();
        for (uint256 id = 1; id <= n; ++id) {
            IDepartmentRegistry.Proposal memory p = reg.proposal(id);
            if (p.executed) {
                assertTrue(p.approvals >= reg.threshold(), "executed below threshold");
                assertFalse(p.cancelled, "cancelled and executed");
                if (p.action == IDepartmentRegistry.Action.Register) {
                    assertEq(reg.departmentOf(p.signer), p.departmentId, "executed without effect");
                }
            }
            if (p.councilEpoch != reg.councilEpoch()) continue; // made under the old council: stale, never executes
            uint256 members; // the council read above: a view, unchanged within the invariant
            for (uint256 j = 0; j < council.length; ++j) {
                if (reg.hasApproved(id, council[j])) ++members;
            }
            assertEq(members, p.approvals, "approvals are exactly the members who approved");
        }
    }
}
