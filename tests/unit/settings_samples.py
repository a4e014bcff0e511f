"""Realistic config files of the shipped games, with comments and keys warlockd does not
know, for the settings tests. Each is shaped like what the game (or its Debian package)
writes; values differ from the manifests' defaults so a read is seen to come from the file."""

from __future__ import annotations

from pathlib import Path

ARK = """\
[ServerSettings]
ActiveMods=
AllowFlyerCarryPvE=True
AutoSavePeriodMinutes=15.000000
DifficultyOffset=0.500000
HarvestAmountMultiplier=2.000000
RCONEnabled=True
RCONPort=27020
ServerAdminPassword=changeme
ServerPassword=
ServerPVE=False
TamingSpeedMultiplier=3.000000
XPMultiplier=1.500000
+ConfigOverrideItemMaxQuantity=(ItemClassString="PrimalItemResource_Wood_C",Quantity=(MaxItemQuantity=1000,bIgnoreMultiplier=true))

[SessionSettings]
SessionName=My ARK: Server ; not a comment
Port=7777

[/Script/Engine.GameSession]
MaxPlayers=70

[MessageOfTheDay]
Message=Welcome!\\nNo griefing
Duration=20
""".replace("\n", "\r\n")  # a Windows build under Proton writes CRLF

PALWORLD = """\
; This configuration file is a sample of the default server settings.
; Changes to this file will NOT be reflected on the server.
[/Script/Pal.PalGameWorldSettings]
OptionSettings=(Difficulty=None,RandomizerType=None,RandomizerSeed="",DayTimeSpeedRate=1.000000,\
NightTimeSpeedRate=1.000000,ExpRate=2.000000,PalCaptureRate=1.000000,DeathPenalty=Item,\
bEnablePlayerToPlayerDamage=False,bEnableFriendlyFire=False,BaseCampWorkerMaxNum=15,\
bIsPvP=False,CoopPlayerMaxNum=4,ServerPlayerMaxNum=32,ServerName="Pals, (and) friends",\
ServerDescription="",AdminPassword="adminpw",ServerPassword="",PublicPort=8211,PublicIP="",\
RCONEnabled=False,RCONPort=25575,Region="",bUseAuth=True,\
BanListURL="https://api.palworldgame.com/api/banlist.txt",RESTAPIEnabled=False,\
RESTAPIPort=8212,CrossplayPlatforms=(Steam,Xbox,PS5,Mac),LogFormatType=Text)
"""

SERVER_PROPERTIES = """\
#Minecraft server properties
#Fri Aug 01 12:00:00 UTC 2025
accepts-transfers=false
allow-flight=false
difficulty=normal
enable-rcon=false
gamemode=survival
generator-settings={}
hardcore=false
level-name=world
level-seed=
level-type=minecraft\\:normal
max-players=12
motd=A \\u00A7bshiny\\u00A7r server
online-mode=true
pvp=true
server-port=25565
view-distance=10
white-list=false
"""

EULA = """\
#By changing the setting below to TRUE you are indicating your agreement to our EULA \
(https://aka.ms/MinecraftEULA).
#Fri Aug 01 12:00:00 UTC 2025
eula=false
"""

SERVERTEST_INI = """\
# Players can hurt and kill other players
PVP=false
# Game time stops when there are no players online
PauseEmpty=true
# The first welcome message visible in the chat panel. Use <LINE> to create a separate line.
ServerWelcomeMessage=Welcome to Project Zomboid Multiplayer! <LINE> Happy surviving!
# Shows the server on the in-game browser.
Public=false
# Name of the server displayed in the in-game browser
PublicName=My PZ Server
# Description displayed in the in-game public server browser.  Typing \\n will create a new line
PublicDescription=
# The maximum number of players that can be on the server at one time. This excludes admins.
MaxPlayers=16
Password=
Map=Muldraugh, KY
"""

MINETEST_CONF = """\
# Written by hand, after /etc/minetest/minetest.conf
server_name = My Minetest server
server_description = Minetest server powered by Debian
server_announce = false
motd = Welcome to Minetest. Enjoy your stay!
max_users = 10
mgv7_np_terrain_base = {
	offset = 4
	max_users = 99
}
server_url = \"\"\"
https://example.org
motd = not a key
\"\"\"
enable_damage = true
creative_mode = false
default_privs = interact, shout
"""

OPENARENA_CFG = """\
// Sample server configuration for OpenArena in Debian

// name of your server
//sv_hostname "An anonymous Debian server"
seta sv_hostname "Debian arena" // trailing comment
set g_motd "Frag well"
sv_maxclients 10

// Type of game to run
g_gametype 3

// Start this map first
map oa_dm1
"""

TEEWORLDS_CFG = """\
# Default configuration for starting a teeworlds server
sv_name Teeworlds powered by Debian

# maximum number of allowed players
sv_max_clients 16

# server password (please change the default password)
# password "mySuperSecretPassword"

# message of the day
sv_motd Welcome - and have fun!
sv_gametype ctf # capture the flag
sv_maprotation dm1 dm2 ctf1
sv_register 1
console_output_level 0
"""

EXAMPLE_JSON = """\
{
    "name": "Example arena",
    "max_players": 8,
    "extra": {"keep": [1, 2, 3]},
    "map": "arena"
}
"""

# A real preset, as Content Manager wrote it (tests/fixtures/assetto/README.md)
AC_SERVER_CFG = (Path(__file__).parents[1] / "fixtures" / "assetto" / "server_cfg.ini").read_text(
    encoding="utf-8"
)

SAMPLES: dict[tuple[str, str], str] = {
    ("ark-sa", "ShooterGame/Saved/Config/WindowsServer/GameUserSettings.ini"): ARK,
    ("palworld", "Pal/Saved/Config/LinuxServer/PalWorldSettings.ini"): PALWORLD,
    ("minecraft", "server.properties"): SERVER_PROPERTIES,
    ("minecraft", "eula.txt"): EULA,
    ("zomboid", "Zomboid/Server/servertest.ini"): SERVERTEST_INI,
    ("minetest", ".minetest/minetest.conf"): MINETEST_CONF,
    ("openarena", "home/baseoa/server.cfg"): OPENARENA_CFG,
    ("teeworlds", "server.cfg"): TEEWORLDS_CFG,
    ("example", "settings.json"): EXAMPLE_JSON,
    ("assetto-corsa", "cfg/server_cfg.ini"): AC_SERVER_CFG,
}
