package domain

// Event type names of the login index stream.
const (
	TypeLoginAccountLinked   = "LoginAccountLinked"
	TypeLoginAccountUnlinked = "LoginAccountUnlinked"
)

// LoginAccountLinked lets the address sign in to an account.
type LoginAccountLinked struct {
	UserID UserID `json:"userId"`
	OrgID  OrgID  `json:"orgId"`
}

// LoginAccountUnlinked removes a closed account from the address's index.
type LoginAccountUnlinked struct {
	UserID UserID `json:"userId"`
	OrgID  OrgID  `json:"orgId"`
}

func (LoginAccountLinked) EventType() string   { return TypeLoginAccountLinked }
func (LoginAccountUnlinked) EventType() string { return TypeLoginAccountUnlinked }
