-- warlock_console: a server-side console for warlockd (Minetest has no remote console).
--
-- warlockd writes a request file into the world directory atomically (a temporary file
-- renamed over it, so a half-written request is never seen):
--     <id> <unix time>
--     <command line>...
-- Every POLL seconds this mod reads it, removes it, runs each line and writes the reply,
-- again through a temporary file and a rename, to the response file:
--     <id> <ok|failed|unknown|error>
--     <reply text>...
-- `say TEXT` tells every player TEXT in the chat; any other line is a chat command
-- (`status`, `/time 6:00`...) run as the server itself, with every privilege: warlockd
-- is root's tool, and only root and the game's own user can write the world directory.
-- A request older than MAX_AGE seconds is dropped unanswered: it was left while the
-- server was down, and warlockd has long given up waiting for it.
--
-- Mod security lets a mod open, rename and remove files inside the world directory only,
-- which is why both files live there.

local REQUEST = "warlock-console.request"
local RESPONSE = "warlock-console.response"
local POLL = 0.5
local MAX_AGE = 30
-- Not a possible player name (names are letters, digits, - and _), so no player can
-- be the one a command acts on by sharing it.
local CALLER = "[warlock]"

local world = minetest.get_worldpath()
local request_path = world .. "/" .. REQUEST
local response_path = world .. "/" .. RESPONSE

-- Commands that check privileges themselves (/time 6:00 needs settime) see every
-- privilege for the console, as a server console would have.
local real_get_player_privs = minetest.get_player_privs
minetest.get_player_privs = function(name)
	if name == CALLER then
		local all = {}
		for priv in pairs(minetest.registered_privileges) do
			all[priv] = true
		end
		return all
	end
	return real_get_player_privs(name)
end

-- Replies carry translation and colour escapes meant for a client: warlockd shows text.
local function plain(reply)
	if reply == nil then
		return ""
	end
	reply = tostring(reply)
	if minetest.get_translated_string then
		reply = minetest.get_translated_string("en", reply)
	end
	reply = minetest.strip_colors(reply):gsub("\27%([^)]*%)", ""):gsub("\27.", "")
	return reply
end

local function run_line(line)
	local text = line:match("^/?say%s+(.*)$")
	if text then
		local message = minetest.format_chat_message("Server", text)
		minetest.chat_send_all(message)
		-- the same form the server logs players' chat in, so the journal shows it
		minetest.log("action", "CHAT: " .. message)
		return "ok", ""
	end
	local name, param = line:match("^/?(%S+)%s*(.*)$")
	local def = name and minetest.registered_chatcommands[name]
	if not def then
		return "unknown", "no such command: " .. (name or line)
	end
	minetest.log("action", "[warlock_console] runs /" .. name .. " " .. param)
	local called, success, reply = pcall(def.func, CALLER, param)
	if not called then
		return "error", tostring(success)
	end
	return success == false and "failed" or "ok", plain(reply)
end

local function answer(id, status, reply)
	local tmp = response_path .. ".tmp"
	local f = io.open(tmp, "w")
	if not f then
		minetest.log("error", "[warlock_console] cannot write " .. tmp)
		return
	end
	f:write(id, " ", status, "\n", reply, "\n")
	f:close()
	os.rename(tmp, response_path)
end

local function serve()
	local f = io.open(request_path, "r")
	if not f then
		return
	end
	local content = f:read("*a")
	f:close()
	os.remove(request_path)
	local id, sent = content:match("^(%w+) (%d+)\n")
	if not id then
		minetest.log("warning", "[warlock_console] ignored a malformed request")
		return
	end
	if math.abs(os.time() - tonumber(sent)) > MAX_AGE then
		minetest.log("warning", "[warlock_console] dropped a request " .. id .. " from "
			.. (os.time() - tonumber(sent)) .. " s ago")
		return
	end
	local status, replies = "ok", {}
	-- every line after the header is a command
	for line in content:gsub("^[^\n]*\n", "", 1):gmatch("[^\n]+") do
		if line:match("%S") then
			local s, reply = run_line(line)
			if s ~= "ok" then
				status = s
			end
			if reply ~= "" then
				replies[#replies + 1] = reply
			end
		end
	end
	answer(id, status, table.concat(replies, "\n"))
end

local waited = 0
minetest.register_globalstep(function(dtime)
	waited = waited + dtime
	if waited < POLL then
		return
	end
	waited = 0
	serve()
end)

minetest.log("action", "[warlock_console] reading " .. request_path)
