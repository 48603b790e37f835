// A small discord.js 14 bot, written the way its users write one.
//
// It knows nothing about Argus or the simulator: the token comes from
// DISCORD_TOKEN, slash commands are registered from the ready handler, and it
// stops cleanly on SIGTERM. Handlers catch their own errors and log them:
// an unhandled rejection would kill Node, which discord.py users never face.
'use strict';

const {
  ActionRowBuilder, ButtonBuilder, ButtonStyle, Client, Events, GatewayIntentBits,
  MessageFlags, ModalBuilder, SlashCommandBuilder, TextInputBuilder, TextInputStyle,
} = require('discord.js');

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const COLORS = ['black', 'blue', 'brown', 'green', 'red', 'white'];

const client = new Client({
  shards: 'auto', // as many shards as Discord recommends in /gateway/bot
  intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages,
    GatewayIntentBits.MessageContent],
});

const commands = [
  new SlashCommandBuilder().setName('ping').setDescription('Check that the bot is alive'),
  new SlashCommandBuilder().setName('slow').setDescription('Something that takes a while'),
  new SlashCommandBuilder().setName('late').setDescription('Answers too late'),
  new SlashCommandBuilder().setName('boom').setDescription('Always fails'),
  new SlashCommandBuilder().setName('block')
    .setDescription('Holds the event loop (a synchronous call)'),
  new SlashCommandBuilder().setName('menu').setDescription('Show a button'),
  new SlashCommandBuilder().setName('feedback').setDescription('Tell us what you think'),
  new SlashCommandBuilder().setName('color').setDescription('Pick a colour')
    .addStringOption((o) => o.setName('name').setDescription('a colour').setRequired(true)
      .setAutocomplete(true)),
  new SlashCommandBuilder().setName('admin').setDescription('Bot administration')
    .addSubcommand((s) => s.setName('stats').setDescription('Some numbers about the bot')),
];

const handlers = {
  async ping(interaction) {
    await interaction.reply('pong');
  },
  async slow(interaction) {
    await interaction.deferReply();
    await sleep(1000);
    await interaction.editReply('done, eventually');
  },
  async late(interaction) {
    await sleep(4000);
    await interaction.reply('sorry, I was busy');
  },
  async block(interaction) {
    await interaction.reply('blocking');
    // The mistake users make: synchronous work on the event loop. Nothing
    // else runs meanwhile, heartbeats included.
    const until = Date.now() + 1000 * Number(process.env.BOT_BLOCK_S || '3');
    while (Date.now() < until) { /* busy */ }
  },
  async boom() {
    throw new Error('boom');
  },
  async menu(interaction) {
    const row = new ActionRowBuilder().addComponents(
      new ButtonBuilder().setCustomId('argus:wave').setLabel('Wave').setStyle(ButtonStyle.Primary));
    await interaction.reply({ content: 'Say hi:', components: [row] });
  },
  async feedback(interaction) {
    const modal = new ModalBuilder().setCustomId('feedback:modal').setTitle('Feedback')
      .addComponents(new ActionRowBuilder().addComponents(
        new TextInputBuilder().setCustomId('feedback:text').setLabel('What do you think?')
          .setStyle(TextInputStyle.Short)));
    await interaction.showModal(modal);
  },
  async color(interaction) {
    await interaction.reply(`you picked ${interaction.options.getString('name')}`);
  },
  async admin(interaction) {
    if (interaction.options.getSubcommand() === 'stats') {
      await interaction.reply(`${client.guilds.cache.size} guilds, latency ${client.ws.ping} ms`);
    }
  },
};

client.once(Events.ClientReady, async (ready) => {
  console.log(`logged in as ${ready.user.tag} in ${ready.guilds.cache.size} guilds`);
  const synced = await ready.application.commands.set(commands.map((c) => c.toJSON()));
  console.log(`registered ${synced.size} application commands`);
});

client.on(Events.InteractionCreate, async (interaction) => {
  try {
    if (interaction.isChatInputCommand()) {
      await handlers[interaction.commandName](interaction);
    } else if (interaction.isAutocomplete()) {
      const current = interaction.options.getFocused();
      await interaction.respond(COLORS.filter((c) => c.startsWith(current))
        .map((c) => ({ name: c, value: c })));
    } else if (interaction.isButton() && interaction.customId === 'argus:wave') {
      await interaction.reply(`${interaction.user.username} waves back`);
    } else if (interaction.isModalSubmit() && interaction.customId === 'feedback:modal') {
      await interaction.reply({ content: 'Thanks for the feedback!', flags: MessageFlags.Ephemeral });
    }
  } catch (error) {
    console.error(`interaction ${interaction.commandName ?? interaction.customId} failed:`, error.message);
  }
});

client.on(Events.MessageCreate, async (message) => {
  if (message.author.bot || !message.content.startsWith('!')) return;
  const [name, ...rest] = message.content.slice(1).split(/\s+/);
  try {
    if (name === 'ping') {
      await message.reply('pong');
    } else if (name === 'echo') {
      await message.channel.send(rest.join(' ') || '(nothing)');
    } else if (name === 'fail') {
      throw new Error('this command always fails');
    }
  } catch (error) {
    console.error(`command !${name} failed:`, error.message);
  }
});

process.on('SIGTERM', async () => {
  console.log('stopping');
  await client.destroy();
  process.exit(0);
});

if (process.env.BOT_DEBUG) client.on(Events.Debug, (line) => console.log(line));

client.login(process.env.DISCORD_TOKEN);
