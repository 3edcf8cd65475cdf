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
/// Every change to a department is a council proposal that executes when it reaches the threshold. Key and status
/// history is kept so that "was this key an active issuer at block B" can be answered for any past block.
interface IDepartmentRegistry {
    /// @notice Council actions. Arguments not used by an action are stored but ignored.
    enum Action {
        Register, // (departmentId, name, signer, roles)
        RotateKey, // (departmentId, signer = new key)
        Suspend, // (departmentId)
        Reinstate, // (departmentId)
        SetRoles // (departmentId, roles)
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

    /// @notice A council proposal.
    struct Proposal {
        Action action;
        bytes32 departmentId;
        string name;
        address signer;
        uint8 roles;
        uint8 approvals;
        bool executed;
        address proposer;
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
    /// @notice A department with id `departmentId` is already registered.
    error RegistryDepartmentExists(bytes32 departmentId);
    /// @notice No department has id `departmentId`.
    error RegistryUnknownDepartment(bytes32 departmentId);
    /// @notice Department ids must be nonzero.
    error RegistryInvalidDepartmentId();
    /// @notice `signer` is, or once was, the key of some department; keys are never reused.
    error RegistrySignerAlreadyUsed(address signer);
    /// @notice A department key must be nonzero.
    error RegistryZeroSigner();
    /// @notice `roles` is zero or has bits outside the four known roles.
    error RegistryInvalidRoles(uint8 roles);
    /// @notice `roles` equals the department's current roles, so nothing would change.
    error RegistryRolesUnchanged(bytes32 departmentId, uint8 roles);
    /// @notice Department `departmentId` is already suspended.
    error RegistryAlreadySuspended(bytes32 departmentId);
    /// @notice Department `departmentId` is not suspended.
    error RegistryNotSuspended(bytes32 departmentId);

    // ----------------------------------------------------------------- events

    /// @notice Council member `proposer` created proposal `proposalId`.
    event ProposalCreated(uint256 indexed proposalId, address indexed proposer, Action action, bytes32 indexed departmentId);
    /// @notice `member` approved `proposalId`, which now has `approvals` approvals.
    event ProposalApproved(uint256 indexed proposalId, address indexed member, uint256 approvals);
    /// @notice Proposal `proposalId` reached the threshold and its action was applied.
    event ProposalExecuted(uint256 indexed proposalId);
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

    // ----------------------------------------------------------------- council

    /// @notice Creates a proposal and counts the caller's approval; executes at once when the threshold is 1.
    /// @dev Arguments are validated now and again at execution. Only council members.
    /// @param action The change to make.
    /// @param departmentId The department concerned (ASCII code right-padded, nonzero).
    /// @param name Display name (Register only).
    /// @param signer Department key (Register) or new key (RotateKey).
    /// @param roles Role bits (Register, SetRoles).
    /// @return proposalId Id of the new proposal (ids start at 1).
    function propose(Action action, bytes32 departmentId, string calldata name, address signer, uint8 roles)
        external
        returns (uint256 proposalId);

    /// @notice Approves `proposalId`; executes it in this call when approvals reach the threshold.
    /// @dev Only council members, once each.
    function approve(uint256 proposalId) external;

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

    /// @notice Number of proposals created so far (also the id of the latest).
    function proposalCount() external view returns (uint256);

    /// @notice Contract version, "1.0.0".
    function version() external pure returns (string memory);
}
