// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @notice Department role bits, shared by the registry and the contracts that ask it.
library Roles {
    uint8 internal constant ISSUER = 1;
    uint8 internal constant VERIFIER = 2;
    uint8 internal constant AUDITOR = 4;
    uint8 internal constant APPROVER = 8;
    uint8 internal constant ALL = ISSUER | VERIFIER | AUDITOR | APPROVER;
}

/// @title IDepartmentRegistry
/// @notice Permissioned registry of departments and their signing keys, governed by an M-of-N council.
/// Every change to a department or to the council is a council proposal that executes when it reaches the
/// threshold, by whoever submits the last approval: a member's own transaction ({approve}) or anyone relaying
/// members' EIP-712 signatures ({approveWithSignatures}). A proposal is open until {PROPOSAL_LIFETIME} seconds
/// (block timestamp) after it was made; an expired, cancelled or defeated proposal never executes, and a change
/// of the council or threshold makes every older open proposal stale (it never executes either). Key and status
/// history is kept so that "was this key an active issuer at block B" can be answered for any past block, and so
/// is the schedule of certificate types each department may issue: "was department D authorized for type T at
/// block B" is answered by {wasAuthorizedForTypeAt}. Department keys and council members are disjoint: no key both
/// acts for a department and votes on the council, e.g. on the certificate types its own department may issue.
interface IDepartmentRegistry {
    /// @notice Council actions. Arguments not used by an action are stored but ignored.
    enum Action {
        Register, // (departmentId, name, signer, roles)
        RotateKey, // (departmentId, signer = new key)
        Suspend, // (departmentId)
        Reinstate, // (departmentId)
        SetRoles, // (departmentId, roles)
        AddMember, // (signer = the new member; departmentId 0)
        RemoveMember, // (signer = the member leaving; departmentId 0)
        SetThreshold, // (roles = the new threshold; departmentId 0)
        GrantType, // (departmentId, name = the certificate types it may issue from now on, separated by ",")
        RevokeType, // (departmentId, name = the certificate types it may no longer issue, separated by ",")
        GrantServiceItem, // (departmentId, name = the service item codes it may decide on from now on, separated by ",")
        RevokeServiceItem // (departmentId, name = the service item codes it may no longer decide on, separated by ",")
    }

    /// @notice Where a proposal stands. Only an Open proposal can be voted on, cancelled or executed.
    enum ProposalState {
        Open,
        Executed,
        Defeated, // so many members rejected it that the threshold can no longer be reached
        Cancelled, // withdrawn by its proposer
        Expired, // PROPOSAL_LIFETIME passed without reaching the threshold
        Stale // the council or threshold changed after it was made
    }

    /// @notice A council member's approval of a proposal, signed off line (EIP-712) and submitted by anyone.
    /// The signed struct is `Approval(uint256 proposalId,bytes32 proposalHash,uint64 councilEpoch,uint256 deadline)`
    /// under this registry's domain (name "DepartmentRegistry", version "2", chain id, registry address).
    struct SignedApproval {
        address member;
        uint256 deadline;
        bytes signature; // 65 bytes r || s || v, low s
    }

    /// @notice Current state of a department.
    struct Department {
        bytes32 id;
        string name;
        address signer;
        uint8 roles;
        bool active;
        uint64 registeredBlock;
    }

    /// @notice A period during which `signer` was the department's key: [fromBlock, toBlock), toBlock 0 = current.
    struct KeyPeriod {
        address signer;
        uint64 fromBlock;
        uint64 toBlock;
    }

    /// @notice Status in force from `fromBlock` until the next period starts.
    struct StatusPeriod {
        bool active;
        uint8 roles;
        uint64 fromBlock;
    }

    /// @notice A period during which the department held certificate type `typeHash` (keccak256 of the type name):
    /// [fromBlock, untilBlock), untilBlock 0 = still held. The name is {certificateTypeName}(typeHash). A grant
    /// executed in block B counts from B + 1 and a revocation executed in block B from B + 1, so a block is judged
    /// whole without transaction order: an anchoring in the grant's block is outside the grant (it may have been
    /// ordered before it), and one in the revocation's block inside (it may have been ordered before it, and one
    /// ordered after gains nothing the department could not get by being ordered first).
    struct TypePeriod {
        bytes32 typeHash;
        uint64 fromBlock;
        uint64 untilBlock;
    }

    /// @notice A period during which the department held service item `serviceItem` (the bytes32 a rule set is
    /// published under, {serviceItemOf} of its code): [fromBlock, untilBlock), untilBlock 0 = still held. The code
    /// is {serviceItemName}(serviceItem). Blocks are judged whole as for {TypePeriod}: a grant executed in block B
    /// counts from B + 1, a revocation executed in block B from B + 1.
    struct ServiceItemPeriod {
        bytes32 serviceItem;
        uint64 fromBlock;
        uint64 untilBlock;
    }

    /// @notice A council proposal.
    struct Proposal {
        Action action;
        bytes32 departmentId;
        string name;
        address signer;
        uint8 roles;
        uint8 approvals;
        bool executed;
        uint64 expiresAt; // block timestamp from which it can no longer execute
        address proposer;
        uint8 rejections;
        bool cancelled;
        uint64 councilEpoch; // the council version it was made under
    }

    // ----------------------------------------------------------------- errors

    /// @notice `account` is not a council member.
    error RegistryNotCouncilMember(address account);
    /// @notice The council list is empty or holds a zero or duplicate address.
    error RegistryInvalidCouncil();
    /// @notice `threshold` is 0 or exceeds the `members` count.
    error RegistryInvalidThreshold(uint8 threshold, uint256 members);
    /// @notice No proposal has id `proposalId`.
    error RegistryUnknownProposal(uint256 proposalId);
    /// @notice Proposal `proposalId` has already executed.
    error RegistryProposalAlreadyExecuted(uint256 proposalId);
    /// @notice `member` has already approved `proposalId`.
    error RegistryAlreadyApproved(uint256 proposalId, address member);
    /// @notice `member` has already rejected `proposalId`.
    error RegistryAlreadyRejected(uint256 proposalId, address member);
    /// @notice Proposal `proposalId` is not the one the vote was cast for: its hash is `actual`, the voter saw
    /// `expected` (the chain was rewritten, or the voter named the wrong number).
    error RegistryProposalChanged(uint256 proposalId, bytes32 expected, bytes32 actual);
    /// @notice Proposal `proposalId` expired at `expiresAt` (block timestamp); make a new one.
    error RegistryProposalExpired(uint256 proposalId, uint64 expiresAt);
    /// @notice Proposal `proposalId` was cancelled by its proposer.
    error RegistryProposalCancelled(uint256 proposalId);
    /// @notice Proposal `proposalId` was rejected by enough members that it can no longer pass.
    error RegistryProposalDefeated(uint256 proposalId);
    /// @notice Proposal `proposalId` was made under council epoch `proposalEpoch`; the council is now at `currentEpoch`.
    error RegistryProposalStale(uint256 proposalId, uint64 proposalEpoch, uint64 currentEpoch);
    /// @notice Only the proposer `proposer` may cancel `proposalId`; `caller` tried.
    error RegistryNotProposer(uint256 proposalId, address proposer, address caller);
    /// @notice The signed approval of `member` expired at `deadline` (block timestamp).
    error RegistrySignatureExpired(address member, uint256 deadline);
    /// @notice The signature said to be `member`'s is malformed or was made by `recovered` (0 if unrecoverable).
    error RegistryInvalidSignature(address member, address recovered);
    /// @notice `account` is already a council member.
    error RegistryAlreadyCouncilMember(address account);
    /// @notice A department with id `departmentId` is already registered.
    error RegistryDepartmentExists(bytes32 departmentId);
    /// @notice No department has id `departmentId`.
    error RegistryUnknownDepartment(bytes32 departmentId);
    /// @notice Department ids must be nonzero.
    error RegistryInvalidDepartmentId();
    /// @notice `departmentId` is no department code: 1 to 32 printable ASCII characters (0x20-0x7e) from its first
    /// byte, then zero bytes only - the text every reader of the registry turns an id into, and back.
    error RegistryInvalidDepartmentCode(bytes32 departmentId);
    /// @notice `signer` is, or once was, the key of some department; keys are never reused.
    error RegistrySignerAlreadyUsed(address signer);
    /// @notice A department key must be nonzero.
    error RegistryZeroSigner();
    /// @notice `signer` is a council member's address; a department key never votes on the council (2.4.0).
    error RegistrySignerIsCouncilMember(address signer);
    /// @notice `account` is, or once was, the key of department `departmentId`; a council member is never a
    /// department key (2.4.0).
    error RegistryMemberIsDepartmentKey(address account, bytes32 departmentId);
    /// @notice A proposal's name is no text a reader can show: from byte `offset` on it is no UTF-8 (an overlong or
    /// truncated sequence, a surrogate, a code point past U+10FFFF, a stray continuation byte) or it holds a control
    /// character (U+0000-001F, U+007F-009F). Every name is checked, whatever the action (2.5.0).
    error RegistryNameNotText(uint256 offset);
    /// @notice `roles` is zero or has bits outside the four known roles.
    error RegistryInvalidRoles(uint8 roles);
    /// @notice `roles` equals the department's current roles, so nothing would change.
    error RegistryRolesUnchanged(bytes32 departmentId, uint8 roles);
    /// @notice Department `departmentId` is already suspended.
    error RegistryAlreadySuspended(bytes32 departmentId);
    /// @notice Department `departmentId` is not suspended.
    error RegistryNotSuspended(bytes32 departmentId);
    /// @notice `certificateType` is not a certificate type name: 1-64 bytes of `a-z`, `0-9` and `-`, not starting
    /// with `-` (docs/format.md).
    error RegistryInvalidCertificateType(string certificateType);
    /// @notice A GrantType or RevokeType proposal names `certificateType` twice.
    error RegistryDuplicateCertificateType(string certificateType);
    /// @notice A GrantType or RevokeType proposal names `count` certificate types; at most `max` are allowed.
    error RegistryTooManyCertificateTypes(uint256 count, uint256 max);
    /// @notice Department `departmentId` already holds certificate type `certificateType`.
    error RegistryTypeAlreadyGranted(bytes32 departmentId, string certificateType);
    /// @notice Department `departmentId` does not hold certificate type `certificateType`, so it cannot be revoked.
    error RegistryTypeNotGranted(bytes32 departmentId, string certificateType);
    /// @notice `code` is not a service item code: 1-128 bytes (an empty code names no item).
    error RegistryInvalidServiceItem(string code);
    /// @notice A GrantServiceItem or RevokeServiceItem proposal names `code` twice.
    error RegistryDuplicateServiceItem(string code);
    /// @notice A GrantServiceItem or RevokeServiceItem proposal names `count` service items; at most `max` are allowed.
    error RegistryTooManyServiceItems(uint256 count, uint256 max);
    /// @notice Department `departmentId` already holds service item `code`.
    error RegistryServiceItemAlreadyGranted(bytes32 departmentId, string code);
    /// @notice Department `departmentId` does not hold service item `code`, so it cannot be revoked.
    error RegistryServiceItemNotGranted(bytes32 departmentId, string code);

    // ----------------------------------------------------------------- events

    /// @notice Council member `proposer` created proposal `proposalId`, open until `expiresAt` (block timestamp).
    event ProposalCreated(
        uint256 indexed proposalId,
        address indexed proposer,
        Action action,
        bytes32 indexed departmentId,
        uint64 expiresAt
    );
    /// @notice `member` approved `proposalId`, which now has `approvals` approvals.
    event ProposalApproved(uint256 indexed proposalId, address indexed member, uint256 approvals);
    /// @notice Proposal `proposalId` reached the threshold and its action was applied.
    event ProposalExecuted(uint256 indexed proposalId);
    /// @notice `member` rejected `proposalId`, which now has `rejections` rejections.
    event ProposalRejected(uint256 indexed proposalId, address indexed member, uint256 rejections);
    /// @notice Proposal `proposalId` can no longer reach the threshold: it is defeated for good.
    event ProposalDefeated(uint256 indexed proposalId);
    /// @notice Proposal `proposalId` was withdrawn by its proposer `proposer`.
    event ProposalCancelled(uint256 indexed proposalId, address indexed proposer);
    /// @notice `member` joined the council; open proposals made before epoch `councilEpoch` are stale.
    event CouncilMemberAdded(address indexed member, uint64 councilEpoch);
    /// @notice `member` left the council; open proposals made before epoch `councilEpoch` are stale.
    event CouncilMemberRemoved(address indexed member, uint64 councilEpoch);
    /// @notice The threshold is now `threshold`; open proposals made before epoch `councilEpoch` are stale.
    event ThresholdChanged(uint8 threshold, uint64 councilEpoch);
    /// @notice Department `departmentId` was registered with key `signer`.
    event DepartmentRegistered(bytes32 indexed departmentId, string name, address indexed signer, uint8 roles);
    /// @notice Department `departmentId` replaced key `previousSigner` with `newSigner`.
    event DepartmentKeyRotated(bytes32 indexed departmentId, address indexed previousSigner, address indexed newSigner);
    /// @notice Department `departmentId` was suspended.
    event DepartmentSuspended(bytes32 indexed departmentId);
    /// @notice Department `departmentId` was reinstated.
    event DepartmentReinstated(bytes32 indexed departmentId);
    /// @notice Department `departmentId` now holds `roles`.
    event DepartmentRolesChanged(bytes32 indexed departmentId, uint8 roles);
    /// @notice Department `departmentId` may issue certificates of type `certificateType` from this block on.
    event CertificateTypeGranted(bytes32 indexed departmentId, bytes32 indexed typeHash, string certificateType);
    /// @notice Department `departmentId` may no longer issue certificates of type `certificateType`, from this block
    /// on; what it anchored while it held the type stays authorized.
    event CertificateTypeRevoked(bytes32 indexed departmentId, bytes32 indexed typeHash, string certificateType);
    /// @notice Department `departmentId` may publish rule sets for (and so decide on) service item `code` from the
    /// next block on; `serviceItem` is {serviceItemOf}(code).
    event ServiceItemGranted(bytes32 indexed departmentId, bytes32 indexed serviceItem, string code);
    /// @notice Department `departmentId` may no longer publish rule sets for service item `code`, from the next
    /// block on; what it published while it held the item stays published under its authority.
    event ServiceItemRevoked(bytes32 indexed departmentId, bytes32 indexed serviceItem, string code);

    // ----------------------------------------------------------------- council

    /// @notice Creates a proposal and counts the caller's approval; executes at once when the threshold is 1.
    /// @dev Arguments are validated now and again at execution. Only council members.
    /// @param action The change to make.
    /// @param departmentId The department concerned (ASCII code right-padded, nonzero).
    /// @param name Display name (Register), certificate types separated by "," (GrantType, RevokeType: all or
    /// none are granted or revoked) or service item codes separated by "," (GrantServiceItem, RevokeServiceItem: as
    /// types); for any action
    /// UTF-8 without control characters ({RegistryNameNotText}).
    /// @param signer Department key (Register) or new key (RotateKey).
    /// @param roles Role bits (Register, SetRoles).
    /// @return proposalId Id of the new proposal (ids start at 1).
    function propose(Action action, bytes32 departmentId, string calldata name, address signer, uint8 roles)
        external
        returns (uint256 proposalId);

    /// @notice Approves `proposalId`; executes it in this call when approvals reach the threshold.
    /// @dev Only council members, once each, while the proposal is open. The vote counts for whatever the chain
    /// holds under that number when it is mined; {approveProposal} counts only for the content the member saw.
    function approve(uint256 proposalId) external;

    /// @notice Approves `proposalId` if it is still the proposal whose {proposalHash} is `expectedHash` (what the
    /// member was shown); executes it in this call when approvals reach the threshold.
    /// @dev Only council members, once each, while the proposal is open. Reverts with {RegistryProposalChanged}
    /// when the number now names other content (a chain rewritten between what the member read and the vote).
    function approveProposal(uint256 proposalId, bytes32 expectedHash) external;

    /// @notice Counts council members' signed approvals of `proposalId` (EIP-712, see {SignedApproval}); executes it
    /// in this call when approvals reach the threshold (approvals after that point are not looked at). Anyone may
    /// submit. Each signature is checked against the council at this block: a former member's signature, one made
    /// for another chain, registry, proposal or council epoch, or one past its deadline, reverts. A valid signature
    /// of a member whose approval already counts (by any path, or earlier in the batch) is skipped and counts
    /// nothing more (2.5.0: before, it reverted the whole batch, so a relay sending one of the signatures ahead of
    /// the batch voided the others); one of a member who rejected the proposal reverts.
    function approveWithSignatures(uint256 proposalId, SignedApproval[] calldata approvals) external;

    /// @notice Records the caller's vote against `proposalId`; once the threshold can no longer be reached the
    /// proposal is defeated. Only council members, once each, while the proposal is open.
    function reject(uint256 proposalId) external;

    /// @notice {reject}, if `proposalId` is still the proposal whose {proposalHash} is `expectedHash`; reverts with
    /// {RegistryProposalChanged} otherwise.
    function rejectProposal(uint256 proposalId, bytes32 expectedHash) external;

    /// @notice Withdraws `proposalId`; it can never execute. Only its proposer, while it is open.
    function cancel(uint256 proposalId) external;

    // ----------------------------------------------------------------- views

    /// @notice Current state of department `departmentId`; reverts {RegistryUnknownDepartment} if unknown.
    function department(bytes32 departmentId) external view returns (Department memory);

    /// @notice Department that `signer` is or was the key of; 0 if the key was never used.
    function departmentOf(address signer) external view returns (bytes32);

    /// @notice Ids of all registered departments, in registration order.
    function departmentIds() external view returns (bytes32[] memory);

    /// @notice All key periods of department `departmentId`, oldest first.
    function keyHistory(bytes32 departmentId) external view returns (KeyPeriod[] memory);

    /// @notice All status periods of department `departmentId`, oldest first.
    function statusHistory(bytes32 departmentId) external view returns (StatusPeriod[] memory);

    /// @notice True when `signer` is the current key of an active department holding every bit of `role`
    /// (`role` 0: any active department).
    function isActiveSigner(address signer, uint8 role) external view returns (bool);

    /// @notice True when, at block `blockNumber`, `signer` was its department's key and the department was active
    /// with every bit of `role`. State at a block is the state after all of that block's transactions.
    function wasActiveSignerAt(address signer, uint8 role, uint64 blockNumber) external view returns (bool);

    /// @notice All certificate type periods of department `departmentId`, in the order they were granted;
    /// reverts {RegistryUnknownDepartment} if unknown.
    function typeHistory(bytes32 departmentId) external view returns (TypePeriod[] memory);

    /// @notice Name of certificate type `typeHash` (keccak256 of the name); "" if no department was ever granted it.
    function certificateTypeName(bytes32 typeHash) external view returns (string memory);

    /// @notice True when department `departmentId` holds certificate type `typeHash` now.
    function isAuthorizedForType(bytes32 departmentId, bytes32 typeHash) external view returns (bool);

    /// @notice True when, at block `blockNumber`, department `departmentId` held certificate type `typeHash`. State
    /// at a block is the state after all of that block's transactions; false for an unknown department.
    function wasAuthorizedForTypeAt(bytes32 departmentId, bytes32 typeHash, uint64 blockNumber)
        external
        view
        returns (bool);

    /// @notice All service item periods of department `departmentId`, in the order they were granted;
    /// reverts {RegistryUnknownDepartment} if unknown.
    function serviceItemHistory(bytes32 departmentId) external view returns (ServiceItemPeriod[] memory);

    /// @notice Code of service item `serviceItem`; "" if no department was ever granted it.
    function serviceItemName(bytes32 serviceItem) external view returns (string memory);

    /// @notice The bytes32 a rule set for service item `code` is published under: the code right-padded with zero
    /// bytes when it is ASCII of at most 32 bytes, else its SHA-256 (docs/decisions.md).
    function serviceItemOf(string calldata code) external pure returns (bytes32);

    /// @notice True when department `departmentId` holds service item `serviceItem` now.
    function holdsServiceItem(bytes32 departmentId, bytes32 serviceItem) external view returns (bool);

    /// @notice True when, at block `blockNumber`, department `departmentId` held service item `serviceItem`. State at
    /// a block is the state after all of that block's transactions; false for an unknown department.
    function heldServiceItemAt(bytes32 departmentId, bytes32 serviceItem, uint64 blockNumber)
        external
        view
        returns (bool);

    /// @notice The council members.
    function councilMembers() external view returns (address[] memory);

    /// @notice Approvals needed to execute a proposal.
    function threshold() external view returns (uint8);

    /// @notice True when `account` is a council member.
    function isCouncilMember(address account) external view returns (bool);

    /// @notice Proposal `proposalId`; reverts {RegistryUnknownProposal} if unknown.
    function proposal(uint256 proposalId) external view returns (Proposal memory);

    /// @notice True when `member` has approved `proposalId`.
    function hasApproved(uint256 proposalId, address member) external view returns (bool);

    /// @notice True when `member` has rejected `proposalId`.
    function hasRejected(uint256 proposalId, address member) external view returns (bool);

    /// @notice Where `proposalId` stands now; reverts {RegistryUnknownProposal} if unknown.
    function proposalState(uint256 proposalId) external view returns (ProposalState);

    /// @notice Number of proposals created so far (also the id of the latest).
    function proposalCount() external view returns (uint256);

    /// @notice Seconds (block timestamp) a proposal stays open.
    function PROPOSAL_LIFETIME() external view returns (uint64);

    /// @notice Version of the council: starts at 1 and grows with every executed council or threshold change.
    function councilEpoch() external view returns (uint64);

    /// @notice The EIP-712 domain separator of this registry on this chain.
    function DOMAIN_SEPARATOR() external view returns (bytes32);

    /// @notice Hash of what `proposalId` will do (action, department, name, signer, roles, proposer, expiry): a
    /// signed approval names it, so it approves exactly this content.
    function proposalHash(uint256 proposalId) external view returns (bytes32);

    /// @notice The EIP-712 digest a member signs to approve `proposalId` until `deadline`, under the current epoch.
    function approvalDigest(uint256 proposalId, uint256 deadline) external view returns (bytes32);

    /// @notice Contract version, "2.5.0" (2.2.0: votes bound to the proposal's hash, {approveProposal}; 2.3.0:
    /// department ids that are codes; 2.4.0: department keys and council members disjoint; 2.5.0: names that are
    /// text ({RegistryNameNotText}), a signed approval already counted skipped in a batch).
    function version() external pure returns (string memory);
}
