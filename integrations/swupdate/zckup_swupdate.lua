-- SPDX-License-Identifier: MIT
-- zckup_swupdate: SWUpdate image type "zckup". The SWU carries the new image's
-- detached header (.zckh) as the image, so SWUpdate's signed sw-description and
-- its sha256 authenticate it; this handler copies it out of the SWU and runs
-- `zckup apply` with the image's properties, forwards zckup's progress to
-- SWUpdate and its summary to SWUpdate's log; zckup's exit status decides.
-- README "SWUpdate" lists the properties. Loaded by swupdate_handlers.lua
-- (require "zckup_swupdate"); usable without SWUpdate for its pure functions.
local M = {}

-- Why a shell is involved at all: SWUpdate 2022.12 runs handlers in a plain
-- Lua 5.3 state whose only ways to start a program are os.execute and
-- io.popen, both /bin/sh -c STRING (no exec with an argument vector, no
-- posix module). So every argument is quoted for sh with M.shell_quote:
-- inside single quotes sh gives no character a meaning but the closing
-- quote, and a quote is written as '\'' (close, escaped quote, reopen).
-- Nothing else is needed; a NUL byte cannot pass through argv at all and is
-- refused. tests/integration/swupdate_zckup.sh runs hostile values through
-- sh and compares the argv the program receives.
function M.shell_quote(s)
  s = tostring(s)
  if s:find("\0", 1, true) then
    error("zckup: an argument holds a NUL byte")
  end
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

function M.command_line(argv)
  local q = {}
  for i, a in ipairs(argv) do
    q[i] = M.shell_quote(a)
  end
  return table.concat(q, " ")
end

-- A property's values: SWUpdate gives a string, or a table for an array.
local function values(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

local function truthy(v)
  return v == true or v == "true" or v == "yes" or v == "1"
end

-- Properties passed on as "--NAME VALUE" (one per value when an array):
-- the delta handler's max-ranges, and zckup's network and trust options.
M.value_options = {
  "max-ranges", "connections", "retries", "timeout", "http-header",
  "cacert", "capath", "cert", "key", "user", "threads", "header-sha256",
  "save-index", "pubkey", "ca-file", "cert-purpose", "signature-url",
  "metadata-url", "min-version", "hw-compat",
}
-- Boolean properties passed on as "--NAME" when "true".
M.flag_options = { "rewrite-all", "no-fine" }
-- Properties the handler reads itself; any other one is refused, so that a
-- misspelt option fails the update instead of being ignored.
local own = {
  url = true, source = true, ["source-size"] = true, ["source-index"] = true,
  chain = true, exec = true, atomic = true, zckup = true,
  ["target-offset"] = true,
}

-- The argv of `zckup apply` for an image table (filename, device, path,
-- properties) whose header was copied to header_path. Returns argv, or nil
-- and a message.
function M.build_argv(image, header_path, zckup_bin)
  local p = image.properties or {}
  local known = {}
  for _, n in ipairs(M.value_options) do known[n] = true end
  for _, n in ipairs(M.flag_options) do known[n] = true end
  for k, _ in pairs(p) do
    if not known[k] and not own[k] then
      return nil, "unknown property '" .. tostring(k) .. "'"
    end
  end
  local url = values(p.url)[1]
  if not url or url == "" then
    return nil, "property 'url' (where the .zck is) is missing"
  end
  local argv = { zckup_bin, "apply", "--header", header_path, "--url", url,
                 "--progress", "json", "--json" }
  local sizes, indexes = values(p["source-size"]), values(p["source-index"])
  for i, s in ipairs(values(p.source)) do
    argv[#argv + 1] = "--source"
    argv[#argv + 1] = s
    if sizes[i] and sizes[i] ~= "" then
      argv[#argv + 1] = "--source-size"
      argv[#argv + 1] = tostring(sizes[i])
    end
    if indexes[i] and indexes[i] ~= "" then
      argv[#argv + 1] = "--source-index"
      argv[#argv + 1] = indexes[i]
    end
  end
  for _, n in ipairs(M.value_options) do
    for _, v in ipairs(values(p[n])) do
      argv[#argv + 1] = "--" .. n
      argv[#argv + 1] = tostring(v)
    end
  end
  for _, n in ipairs(M.flag_options) do
    if truthy(p[n]) then argv[#argv + 1] = "--" .. n end
  end
  -- The destination: a chained command, else the image's device or path
  -- (the delta handler's chain "raw"/"rawfile" write those: here zckup
  -- writes them itself, in place and resumable, or atomically with atomic).
  local chain = values(p.chain)[1]
  if chain and chain ~= "raw" and chain ~= "rawfile" then
    return nil, "chain '" .. chain .. "': zckup writes the device or path itself "
      .. "(raw, rawfile); for another writer use the property exec"
  end
  local exec = values(p.exec)[1]
  local dest = (image.device and image.device ~= "") and image.device or image.path
  if exec and exec ~= "" then
    argv[#argv + 1] = "--exec"
    argv[#argv + 1] = exec
  elseif dest and dest ~= "" then
    argv[#argv + 1] = truthy(p.atomic) and "--output" or "--target"
    argv[#argv + 1] = dest
    local off = values(p["target-offset"])[1]
    if off then
      argv[#argv + 1] = "--target-offset"
      argv[#argv + 1] = tostring(off)
    end
  else
    return nil, "no destination: give the image a device or path, or the property exec"
  end
  return argv
end

-- One line of zckup's output: a progress event, the JSON summary, or a message.
function M.parse_line(line)
  if line:sub(1, 20) == '{"event":"progress",' then
    local phase = line:match('"phase":"(%a+)"')
    local done = tonumber(line:match('"done":(%d+)'))
    local total = tonumber(line:match('"total":(%d+)'))
    return "progress", phase, done, total
  end
  if line:sub(1, 15) == '{"image_bytes":' then
    return "summary"
  end
  return "message"
end

-- The phases of an apply, in order, and the share of the bar each gets:
-- reading the sources and the target, then writing (which fetches).
local weights = { index = { 0, 30 }, check = { 30, 10 }, pieces = { 40, 10 },
                  write = { 50, 50 } }

function M.percent(phase, done, total)
  local w = weights[phase]
  if not w or not total or total == 0 then return nil end
  return math.floor(w[1] + w[2] * math.min(done, total) / total)
end

-- Runs argv, forwarding progress and messages; returns zckup's exit status.
function M.run(argv, sw)
  local f = io.popen(M.command_line(argv) .. " 2>&1", "r")
  if not f then
    sw.error("%s", "zckup: cannot start " .. argv[1])
    return 127
  end
  local last = -1
  for line in f:lines() do
    local kind, phase, done, total = M.parse_line(line)
    if kind == "progress" then
      local pc = M.percent(phase, done, total)
      if pc and pc ~= last then
        sw.progress_update(pc)
        if pc // 10 ~= last // 10 then
          sw.trace("%s", string.format("zckup: %s %d%%", phase, pc))
        end
        last = pc
      end
    elseif kind == "summary" then
      sw.info("%s", "zckup: summary " .. line)
    elseif line:sub(1, 7) == "zckup: " then
      sw.warn("%s", line) -- zckup's own warnings and errors
    else
      sw.info("%s", line)
    end
  end
  local _, how, code = f:close()
  if how ~= "exit" then
    return 128 + (code or 0)
  end
  return code
end

-- The handler SWUpdate calls; 0 is success.
function M.handler(image, sw)
  sw = sw or swupdate
  local p = image.properties or {}
  local bin = values(p.zckup)[1] or os.getenv("ZCKUP_BIN") or "zckup"
  local dir = sw.tmpdir()
  if dir:sub(-1) ~= "/" then dir = dir .. "/" end
  local header = dir .. "zckup-" .. (image.filename or "header.zckh"):gsub("/", "_")
  local err, msg = image:copy2file(header)
  if err ~= 0 then
    sw.error("%s", "zckup: cannot copy " .. tostring(image.filename) .. " out of the SWU: "
      .. tostring(msg))
    return 1
  end
  local argv, why = M.build_argv(image, header, bin)
  if not argv then
    os.remove(header)
    sw.error("%s", "zckup: " .. why)
    return 1
  end
  sw.info("%s", "zckup: running " .. M.command_line(argv))
  local code = M.run(argv, sw)
  os.remove(header)
  if code ~= 0 then
    sw.error("%s", "zckup apply failed with exit status " .. tostring(code)
      .. " (zckup(1), EXIT STATUS); a raw target resumes when the update is run again")
    return 1
  end
  sw.progress_update(100)
  return 0
end

function M.register(sw)
  sw = sw or swupdate
  sw.register_handler("zckup", function(image) return M.handler(image, sw) end,
    sw.HANDLER_MASK.IMAGE_HANDLER)
end

return M
