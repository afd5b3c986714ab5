"""Rate limits per token subject or client address, shared across API nodes through Redis,
counted in memory when Redis is absent or failing."""
