"""Train state, loss, optimizer and the jitted, sharded train step."""
