-- torch's positional lr, optim.AdamW(params, 1e-3), is an error that shows how kshot writes it.
local nn = require "kshot.nn"
local optim = require "kshot.optim"

describe("optimizer options given as a number", function()
  it("say that the lr goes in the options table", function()
    local params = nn.Linear(2, 2):parameters()
    for _, name in ipairs({"SGD", "Adam", "AdamW", "RMSprop"}) do
      local ok, err = pcall(optim[name], params, 1e-3)
      assert.is_false(ok)
      assert.matches(name .. ": options must be a table, got number %(the lr goes in the options: {lr = 0%.001}%)",
        tostring(err))
    end
    local ok, err = pcall(optim.SGD, params, "fast")
    assert.is_false(ok)
    assert.matches("SGD: options must be a table, got string$", tostring(err))
  end)
end)
