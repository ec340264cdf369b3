package domain

// Stable error codes. Clients and the HTTP problem documents branch on these
// strings, so they are part of the public contract: add new ones, never
// rename or reuse one.
const (
	// Input validation (KindInvalid).
	CodeValidationFailed   = "validation_failed"
	CodeInvalidEmail       = "invalid_email"
	CodeNoAddresses        = "no_addresses"
	CodeTooManyAddresses   = "too_many_addresses"
	CodeInvalidDomain      = "invalid_domain_pattern"
	CodeInvalidRole        = "invalid_role"
	CodeInvalidID          = "invalid_id"
	CodeInvalidStreamName  = "invalid_stream_name"
	CodeInvalidName        = "invalid_name"
	CodeWeakPassword       = "weak_password"
	CodeInvalidLinkSetting = "invalid_link_settings"

	// Existence (KindNotFound).
	CodeOrganizationNotFound = "organization_not_found"
	CodeMemberNotFound       = "member_not_found"
	CodeInvitationNotFound   = "invitation_not_found"
	CodeLinkNotFound         = "link_not_found"
	CodeRegistrationNotFound = "registration_not_found"
	CodeAccountNotFound      = "account_not_found"
	CodePasswordTokenInvalid = "password_token_invalid"

	// State conflicts (KindConflict).
	CodeOrganizationExists = "organization_exists"
	CodeAlreadyMember      = "already_member"
	CodeAlreadyInvited     = "already_invited"
	CodeInvitationExists   = "invitation_exists"
	CodeInvitationAccepted = "invitation_accepted"
	CodeInvitationRevoked  = "invitation_revoked"
	CodeLastOwner          = "last_owner"
	CodeRegistrationExists = "registration_exists"
	CodeAccountExists      = "account_exists"

	// Permissions (KindForbidden).
	CodeNotAnAdmin           = "not_an_admin"
	CodeOwnerRequired        = "owner_required"
	CodeEmailDomainForbidden = "email_domain_not_allowed"

	// Used up or outdated (KindGone).
	CodeInvitationExpired      = "invitation_expired"
	CodeInvitationSuperseded   = "invitation_superseded"
	CodeInvitationUsed         = "invitation_already_accepted"
	CodeLinkDisabled           = "link_disabled"
	CodeLinkRotated            = "link_rotated"
	CodeLinkExpired            = "link_expired"
	CodeLinkExhausted          = "link_exhausted"
	CodeVerificationExpired    = "verification_expired"
	CodeVerificationSuperseded = "verification_superseded"
	CodeVerificationUsed       = "verification_already_used"
	CodeRegistrationClosed     = "registration_closed"
	CodePasswordTokenExpired   = "password_token_expired"
	CodePasswordTokenUsed      = "password_token_used"
	CodePasswordTokenOutdated  = "password_token_superseded"
	CodeAccountClosed          = "account_closed"

	// Authentication (KindUnauthenticated).
	CodeInvalidCredentials = "invalid_credentials"
	CodeSessionInvalid     = "session_invalid"
	CodeSessionEnded       = "session_ended"
	CodeSessionExpired     = "session_expired"

	// Sessions (KindConflict).
	CodeSessionExists = "session_exists"
)
