"""Discord's objects as the simulator hands them out: snowflakes, users,
guilds, channels, messages, application commands.

Everything the two client libraries parse must be present with the right JSON
type (snowflakes are strings, timestamps ISO 8601 with an offset), otherwise
discord.py or discord.js raise while building their models and the bot never
sees the event. Fields that only real Discord knows (avatars, banners) are
null. One World instance holds the fixed population of a run: the bot, the
application, a few users and the guilds with one text channel each.
"""

import datetime
import itertools
import threading
import time

import fake_secrets

DISCORD_EPOCH_MS = 1420070400000


class SnowflakeFactory:
    """Unique, time-ordered ids as Discord mints them (ms since 2015 << 22)."""

    def __init__(self, worker: int = 1):
        self._worker = worker & 0x1F
        self._counter = itertools.count()
        self._lock = threading.Lock()

    def make(self, at_s: float = None) -> str:
        ms = int((time.time() if at_s is None else at_s) * 1000)
        with self._lock:
            increment = next(self._counter) & 0xFFF
        return str(((ms - DISCORD_EPOCH_MS) << 22) | (self._worker << 17) | increment)


def snowflake_time_s(snowflake: str) -> float:
    return ((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000.0


def iso_timestamp(at_s: float = None) -> str:
    at = datetime.datetime.fromtimestamp(time.time() if at_s is None else at_s,
                                         tz=datetime.timezone.utc)
    return at.isoformat(timespec="microseconds")


def user_object(user_id: str, username: str, bot: bool = False) -> dict:
    user = {"id": user_id, "username": username, "discriminator": "0",
            "global_name": None if bot else username.capitalize(), "avatar": None,
            "public_flags": 0, "flags": 0, "avatar_decoration_data": None}
    if bot:
        user["bot"] = True
    return user


class World:
    """The fixed population of a run: bot, application, users, guilds."""

    def __init__(self, guild_count: int, users: int = 3):
        self.ids = SnowflakeFactory()
        self.bot_user = user_object(fake_secrets.BOT_USER_ID, "argus-test-bot", bot=True)
        self.bot_user.update({"verified": True, "mfa_enabled": False, "email": None,
                              "locale": "en-US", "premium_type": 0})
        self.users = [user_object(self.ids.make(), name)
                      for name in ["alice", "bob", "carol", "dave", "erin"][:max(1, users)]]
        self.guilds = []
        # Consecutive milliseconds, so that guilds alternate between shards
        # ((id >> 22) % shards) and every run distributes them alike.
        base_s = int(time.time()) - 3600.0
        for index in range(guild_count):
            guild_id = self.ids.make(base_s + index / 1000.0)
            self.guilds.append({
                "id": guild_id, "name": f"Test Guild {index + 1}",
                "channel_id": self.ids.make(), "role_id": guild_id,
                "voice_channel_id": self.ids.make(),
                "joined_at": iso_timestamp(time.time() - 86400 * (index + 1)),
                # Members of this guild only (the five users are in every
                # guild), and its custom emojis and stickers: what the
                # library caches, counted by Argus from GUILD_CREATE.
                "members": [user_object(self.ids.make(), f"member{index}x{k}")
                            for k in range(2 + index)],
                "emojis": index + 2,
                "stickers": index % 2 + 1,
            })

    def application(self) -> dict:
        return {
            "id": fake_secrets.APPLICATION_ID, "name": "argus-test-bot", "icon": None,
            "description": "A bot under test", "summary": "", "type": None,
            "hook": True, "bot_public": True, "bot_require_code_grant": False,
            "verify_key": "3f4b1c2d5e6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b2c",
            "flags": 8953856, "owner": self.users[0], "team": None,
            "rpc_origins": [], "tags": [], "redirect_uris": [],
            "interactions_endpoint_url": None, "bot": self.bot_user,
        }

    def guild_shard(self, guild: dict, shard_count: int) -> int:
        """Discord's rule: shard_id = (guild_id >> 22) % num_shards."""
        return (int(guild["id"]) >> 22) % max(1, shard_count)

    def guild_by_channel(self, channel_id: str):
        for guild in self.guilds:
            if guild["channel_id"] == channel_id:
                return guild
        return None

    def channel_object(self, guild: dict) -> dict:
        return {"id": guild["channel_id"], "type": 0, "guild_id": guild["id"],
                "name": "general", "position": 0, "parent_id": None, "topic": None,
                "nsfw": False, "last_message_id": None, "rate_limit_per_user": 0,
                "flags": 0, "permission_overwrites": []}

    def voice_channel_object(self, guild: dict) -> dict:
        return {"id": guild["voice_channel_id"], "type": 2, "guild_id": guild["id"],
                "name": "Voice", "position": 1, "parent_id": None, "nsfw": False,
                "bitrate": 64000, "user_limit": 0, "rtc_region": None, "video_quality_mode": 1,
                "last_message_id": None, "rate_limit_per_user": 0, "flags": 0,
                "permission_overwrites": []}

    def emoji_object(self, name: str) -> dict:
        return {"id": self.ids.make(), "name": name, "roles": [], "require_colons": True,
                "managed": False, "animated": False, "available": True}

    def sticker_object(self, guild: dict, name: str) -> dict:
        return {"id": self.ids.make(), "name": name, "tags": "wave", "type": 2,
                "format_type": 1, "description": "A sticker", "available": True,
                "guild_id": guild["id"]}

    def dm_channel_object(self, user: dict) -> dict:
        return {"id": self.ids.make(), "type": 1, "last_message_id": None, "flags": 0,
                "recipients": [user]}

    def voice_state_object(self, guild: dict, user: dict, channel_id) -> dict:
        return {"guild_id": guild["id"], "channel_id": channel_id, "user_id": user["id"],
                "member": self.member_object(guild, user), "session_id": "0" * 32,
                "deaf": False, "mute": False, "self_deaf": False, "self_mute": False,
                "self_video": False, "suppress": False, "request_to_speak_timestamp": None}

    def guild_members(self, guild: dict) -> list:
        """Everyone GUILD_CREATE lists: the bot, the five users, the guild's own."""
        return [self.bot_user] + self.users + guild["members"]

    def member_object(self, guild: dict, user: dict, with_user: bool = True) -> dict:
        member = {"roles": [], "nick": None, "avatar": None, "premium_since": None,
                  "joined_at": guild["joined_at"], "pending": False, "deaf": False,
                  "mute": False, "flags": 0, "communication_disabled_until": None}
        if with_user:
            member["user"] = user
        return member

    def guild_create(self, guild: dict) -> dict:
        """A GUILD_CREATE payload: the guild with its channel, roles and members."""
        members = [self.member_object(guild, u) for u in self.guild_members(guild)]
        presences = [{"user": {"id": u["id"]}, "status": "online", "activities": [],
                      "client_status": {"desktop": "online"}} for u in self.users]
        return {
            "id": guild["id"], "name": guild["name"], "icon": None, "splash": None,
            "discovery_splash": None, "owner_id": self.users[0]["id"],
            "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": [{"id": guild["role_id"], "name": "@everyone", "color": 0,
                       "hoist": False, "icon": None, "unicode_emoji": None,
                       "position": 0, "permissions": "1071698660929", "managed": False,
                       "mentionable": False, "flags": 0}],
            "emojis": [self.emoji_object(f"e{k}") for k in range(guild["emojis"])],
            "stickers": [self.sticker_object(guild, f"s{k}") for k in range(guild["stickers"])],
            "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": guild["channel_id"],
            "system_channel_flags": 0, "rules_channel_id": None, "max_members": 500000,
            "vanity_url_code": None, "description": None, "banner": None,
            "premium_tier": 0, "premium_subscription_count": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": None, "nsfw_level": 0, "premium_progress_bar_enabled": False,
            "safety_alerts_channel_id": None, "joined_at": guild["joined_at"], "large": False,
            "unavailable": False, "member_count": len(members), "lazy": True,
            "voice_states": [], "members": members, "presences": presences, "threads": [],
            "stage_instances": [], "guild_scheduled_events": [], "embedded_activities": [],
            "channels": [self.channel_object(guild), self.voice_channel_object(guild)],
        }

    def message_object(self, channel_id: str, author: dict, content: str,
                       message_type: int = 0, guild: dict = None, **extra) -> dict:
        message = {
            "id": self.ids.make(), "type": message_type, "content": content,
            "channel_id": channel_id, "author": author, "attachments": [], "embeds": [],
            "mentions": [], "mention_roles": [], "mention_everyone": False,
            "pinned": False, "tts": False, "timestamp": iso_timestamp(),
            "edited_timestamp": None, "flags": 0, "components": [],
        }
        if guild is not None:
            message["guild_id"] = guild["id"]
        message.update(extra)
        return message

    def command_object(self, command: dict, guild_id: str = None) -> dict:
        """What PUT /applications/{id}/commands answers for one command."""
        stored = {"id": self.ids.make(), "application_id": fake_secrets.APPLICATION_ID,
                  "version": self.ids.make(), "type": command.get("type", 1),
                  "name": command["name"], "description": command.get("description", ""),
                  "options": command.get("options", []),
                  "default_member_permissions": command.get("default_member_permissions"),
                  "dm_permission": command.get("dm_permission", True),
                  "nsfw": command.get("nsfw", False), "integration_types": [0],
                  "contexts": None, "name_localizations": None,
                  "description_localizations": None}
        if guild_id is not None:
            stored["guild_id"] = guild_id
        return stored
