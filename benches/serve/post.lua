-- wrk script for the what-if service: each request POSTs one line of the
-- file $BODIES (one JSON body per line; a line picked at random when there
-- are several) with the bearer token $EXFEE_TOKEN. With $DELAY_MS set, each
-- connection waits that long between requests (64 connections at 128 ms:
-- about 500 requests/s offered), so that latency is measured at a given
-- load rather than at saturation. Non-200 answers count as errors (see
-- docs/performance.md).
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
function init(args)
  for line in io.lines(os.getenv("BODIES")) do
    bodies[#bodies + 1] = line
  end
  math.randomseed(7919 * ((id or 0) + 1))
end

function request()
  return wrk.format(nil, nil, nil, bodies[math.random(#bodies)])
end

function delay()
  return pause
end

local failed = 0
function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
  end
end
