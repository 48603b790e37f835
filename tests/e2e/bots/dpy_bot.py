#!/usr/bin/python3
"""A small discord.py bot, written the way its users write one.

It knows nothing about Argus or the simulator: the token comes from
DISCORD_TOKEN, slash commands are synced from on_ready, and it stops cleanly
on SIGTERM (as it would under systemd or Docker).
"""

import asyncio
import logging
import os
import signal
import time

import discord
from discord import app_commands
from discord.ext import commands

log = logging.getLogger("dpy_bot")

intents = discord.Intents.default()
intents.message_content = True
bot = commands.Bot(command_prefix="!", intents=intents)


class WaveView(discord.ui.View):
    """A persistent button: clicks are handled even after a restart."""

    def __init__(self):
        super().__init__(timeout=None)

    @discord.ui.button(label="Wave", style=discord.ButtonStyle.primary, custom_id="argus:wave")
    async def wave(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.send_message(f"{interaction.user.display_name} waves back")


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    text = discord.ui.TextInput(label="What do you think?", custom_id="feedback:text")

    def __init__(self):
        super().__init__(custom_id="feedback:modal")

    async def on_submit(self, interaction: discord.Interaction):
        await interaction.response.send_message("Thanks for the feedback!", ephemeral=True)


@bot.tree.command(description="Check that the bot is alive")
async def ping(interaction: discord.Interaction):
    await interaction.response.send_message("pong")


@bot.tree.command(description="Something that takes a while")
async def slow(interaction: discord.Interaction):
    await interaction.response.defer(thinking=True)
    await asyncio.sleep(1.0)
    await interaction.followup.send("done, eventually")


@bot.tree.command(description="Answers too late")
async def late(interaction: discord.Interaction):
    await asyncio.sleep(4.0)
    await interaction.response.send_message("sorry, I was busy")


@bot.tree.command(description="Holds the event loop (a synchronous call)")
async def block(interaction: discord.Interaction):
    await interaction.response.send_message("blocking")
    # The mistake users make: a blocking call inside a coroutine. Nothing
    # else runs on the loop meanwhile, heartbeats included.
    time.sleep(float(os.environ.get("BOT_BLOCK_S", "3")))


@bot.tree.command(description="Always fails")
async def boom(interaction: discord.Interaction):
    raise RuntimeError("boom")


@bot.tree.command(description="Show a button")
async def menu(interaction: discord.Interaction):
    await interaction.response.send_message("Say hi:", view=WaveView())


@bot.tree.command(description="Tell us what you think")
async def feedback(interaction: discord.Interaction):
    await interaction.response.send_modal(FeedbackModal())


COLORS = ["black", "blue", "brown", "green", "red", "white"]


@bot.tree.command(description="Pick a colour")
@app_commands.describe(name="a colour")
async def color(interaction: discord.Interaction, name: str):
    await interaction.response.send_message(f"you picked {name}")


@color.autocomplete("name")
async def color_autocomplete(interaction: discord.Interaction, current: str):
    return [app_commands.Choice(name=c, value=c) for c in COLORS if c.startswith(current)][:25]


admin = app_commands.Group(name="admin", description="Bot administration")


@admin.command(description="Some numbers about the bot")
async def stats(interaction: discord.Interaction):
    await interaction.response.send_message(f"{len(bot.guilds)} guilds, latency "
                                            f"{bot.latency * 1000:.0f} ms")


bot.tree.add_command(admin)


@bot.command(name="ping")
async def ping_prefix(ctx: commands.Context):
    await ctx.reply("pong")


@bot.command()
async def echo(ctx: commands.Context, *, text: str = "(nothing)"):
    await ctx.send(text)


@bot.command()
async def fail(ctx: commands.Context):
    raise RuntimeError("this command always fails")


_synced = False


@bot.event
async def on_ready():
    global _synced
    log.info("logged in as %s in %d guilds", bot.user, len(bot.guilds))
    if not _synced:
        _synced = True
        synced = await bot.tree.sync()
        log.info("synced %d application commands", len(synced))


async def main():
    discord.utils.setup_logging(level=logging.INFO)
    bot.add_view(WaveView())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    async with bot:
        runner = asyncio.create_task(bot.start(os.environ["DISCORD_TOKEN"]))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if runner in done:
            runner.result()  # re-raise a login failure
        await bot.close()
        stopper.cancel()
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
