package domain

// Identifiers are distinct string types so that a user id can never be
// passed where an invitation id is expected. Their values are opaque to the
// domain; the command layer generates them (random UUIDs in practice).
type (
	OrgID          string
	UserID         string
	InvitationID   string
	RegistrationID string
)

const maxIDLength = 64

// ParseID validates an identifier taken from outside (a URL, a token):
// 1–64 characters of letters, digits, '-' and '_'. Keeping ids to this
// alphabet makes them safe in stream names, URLs and log lines.
func ParseID[T ~string](raw string) (T, error) {
	if raw == "" || len(raw) > maxIDLength {
		return "", Invalid(CodeInvalidID, "an id must be 1 to %d characters long", maxIDLength)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return "", Invalid(CodeInvalidID, "an id may contain only letters, digits, '-' and '_'")
		}
	}
	return T(raw), nil
}
