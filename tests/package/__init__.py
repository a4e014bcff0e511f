"""The Debian package: static checks and an install test on a clean bookworm."""
