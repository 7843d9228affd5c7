"""Wire messages: msgspec Structs named after upstream's proto messages."""
