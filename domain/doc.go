// Package domain is the pure core of the onboarding backend: organizations
// and their members, invitations, the self-service link, registrations and
// accounts, as events and the decisions that produce them. It imports only
// the standard library and does no I/O; time comes in as an argument.
//
// # Shape
//
// Every aggregate has a state folded from its stream by Evolve<Aggregate>
// and a Decide<Aggregate>(state, command, now) ([]Event, error) that checks
// the invariants and returns new events (none when the command changes
// nothing, so retries and repeated PUTs are harmless). The command layer
// loads, decides and appends with the expected revision of what it loaded.
// Events are registered by name in a Registry built by NewRegistry.
//
// # Streams (see streams.go)
//
//	organization-<OrgID>        OrganizationCreated, MemberJoined, MemberRoleChanged,
//	                            MemberRemoved, SelfServiceLinkConfigured, SelfServiceLinkRotated
//	invitation-<InvitationID>   UserInvited, InvitationResent, InvitationRevoked,
//	                            InvitationAccepted, InvitationEmailSent/Failed
//	membership-<sha256 hex>     MembershipInvitationHeld/Released, MembershipReserved/Released
//	registration-<RegID>        RegistrationStarted, RegistrationAttemptedByMember,
//	                            RegistrationEmailVerified, RegistrationRejected,
//	                            VerificationEmailSent/Failed, AlreadyMemberEmailSent/Failed
//	user-<UserID>               AccountCreated, PasswordSetupRequested, PasswordSet,
//	                            PasswordResetRequested, PasswordResetCompleted, AccountClosed,
//	                            SetPasswordEmailSent/Failed, PasswordResetEmailSent/Failed
//	session-<SessionID>         SessionStarted, SessionEnded
//	login-<sha256 hex>          LoginAccountLinked/Unlinked (global: sign-in by address alone)
//
// # Decisions
//
//   - Tokens: events carry token generations, never tokens. A token is
//     derived outside the domain from (aggregate id, generation); resending
//     an invitation, rotating the link or issuing a new password token bumps
//     the generation and kills the old token. Every way a token dies has its
//     own KindGone code.
//   - One membership per (organization, address): the membership stream,
//     named by the SHA-256 of org id and normalized address so that no
//     address appears in a stream name (stream names are in every log line).
//     It also holds the pending invitation, so one address has at most one
//     open invitation.
//   - The last-owner rule and authorization live in the organization
//     aggregate, which keeps the roster (member → role). An organization
//     always keeps at least one owner; only owners grant, change or remove
//     ownership.
//   - The self-service link is part of the organization aggregate: its use
//     limit is counted by MemberJoined in the same stream. Rotation resets
//     the use count and also stops registrations started under the old link
//     from completing (a leaked link is rotated precisely to shut them out).
//   - Email: ASCII only; internationalized domains are accepted in their
//     xn-- form and non-ASCII input is refused with a reason, so look-alike
//     characters cannot pass the allowlist. Normalization lower-cases the
//     whole address and drops a trailing dot of the domain.
//   - Password hashes (PHC strings, never raw passwords or tokens) are in
//     the account's own events and in RegistrationStarted until the address
//     is verified; read models and the audit trail must not copy them.
//   - Accounts belong to one organization (every stream belongs to one).
package domain
