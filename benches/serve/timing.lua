-- benches/serve/post.lua plus the time of every request sent and every answer
-- received (CLOCK_MONOTONIC, µs; LuaJIT ffi), one line each ("s T" / "r T") in
-- $SENDS.<wrk thread>: the arrival pattern the server sees (read it with
-- benches/serve/arrivals.py). Same environment as post.lua, whose functions
-- this wraps (loaded from the folder of this script).
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "post.lua")

local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } timespec;
int clock_gettime(int clk_id, timespec *tp);
]]
local ts = ffi.new("timespec")
local function now_us()
  ffi.C.clock_gettime(1, ts)
  return tonumber(ts.tv_sec) * 1000000 + math.floor(tonumber(ts.tv_nsec) / 1000)
end

local out
local count = 0
local post_init, post_request, post_response = init, request, response
function init(args)
  post_init(args)
  out = io.open(os.getenv("SENDS") .. "." .. tostring(id), "w")
end
function request()
  out:write("s ", now_us(), "\n")
  return post_request()
end
function response(status, headers, body)
  out:write("r ", now_us(), "\n")
  count = count + 1
  if count % 500 == 0 then out:flush() end
  post_response(status, headers, body)
end
