"""What every Tenure service shares: config, web plumbing, auth, database, events."""
