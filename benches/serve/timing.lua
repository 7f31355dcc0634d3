-- benches/serve/post.lua plus the time of every request sent and every answer
-- received (CLOCK_MONOTONIC, µs; LuaJIT ffi), one line each ("s T" / "r T") in
-- $SENDS.<wrk thread>: the arrival pattern the server sees (read it with
-- benches/serve/arrivals.py). Same environment as post.lua.
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
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("EXFEE_TOKEN")
local threads = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
local bodies = {}
local pause = tonumber(os.getenv("DELAY_MS") or "0")
local out
local count = 0
function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
  math.randomseed(7919 * ((id or 0) + 1))
  out = io.open(os.getenv("SENDS") .. "." .. tostring(id), "w")
end
function request()
  out:write("s ", now_us(), "\n")
  return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])
end
function delay()
  return pause
end
function response(status, headers, body)
  out:write("r ", now_us(), "\n")
  count = count + 1
  if count % 500 == 0 then out:flush() end
end
