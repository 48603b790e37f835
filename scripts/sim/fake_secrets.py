"""The fake credentials every end-to-end piece shares, kept in one place.

Nothing here is a real secret: the simulator accepts exactly this bot token and
refuses any other with close code 4004 / HTTP 401, as Discord would. The values
look like the real thing (three base64url parts, the first encoding the bot's
user id; interaction tokens start with base64("interaction:")) so that Argus'
redaction is exercised on realistic input. Tests that check "no secret leaves
the process" import this module and grep Argus' output for these strings.
"""

import base64

BOT_USER_ID = "1133557799002244668"
APPLICATION_ID = BOT_USER_ID  # Discord bots created since 2019 share the two ids.


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


# id part . timestamp part . HMAC part, as Discord issues them.
BOT_TOKEN = (_b64url(BOT_USER_ID.encode()) + ".GsX2kQ."
             + "tQ3vR8yZpL0aW5nM1cH7dK9eB4uF6jS2oXrYzAq")

# Every interaction token the simulator issues starts with this prefix
# (base64 of "interaction:"); the rest is random per interaction.
INTERACTION_TOKEN_PREFIX = "aW50ZXJhY3Rpb246"


def interaction_token(interaction_id: str, nonce: str) -> str:
    """A token shaped like Discord's: base64url("interaction:<id>:<nonce>")."""
    return _b64url(f"interaction:{interaction_id}:{nonce}".encode())


def all_fixed_secrets() -> list:
    """Strings that must never appear in anything Argus logs or exports."""
    return [BOT_TOKEN]
