"""The PostgreSQL store (#13): the same repositories as storage/, on asyncpg."""
