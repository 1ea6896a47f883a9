"""MCP front end: the `cs mcp` server over stdio."""
