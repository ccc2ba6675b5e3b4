"""Discord commands, buttons and messages: parse, check, enqueue, render."""
