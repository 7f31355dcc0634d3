-- wrk script for the what-if service: POSTs $BODY with the bearer token
-- $EXFEE_TOKEN, and counts non-200 answers as errors (see docs/performance.md).
wrk.method = "POST"
wrk.body = os.getenv("BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("EXFEE_TOKEN")

local failed = 0
function response(status, headers, body)
  if status ~= 200 then
    failed = failed + 1
    if failed <= 3 then
      io.stderr:write("status " .. status .. ": " .. body .. "\n")
    end
  end
end
