"""Users, credentials, sessions, two-factor authentication, verification and password reset."""
