-- CSV reader: ks.data.read_csv (runtime/core/ks_csv.c), RFC 4180.
local ks = require "kshot"

local tmpfiles = {}
local function csv(text)
  local p = os.tmpname()
  tmpfiles[#tmpfiles + 1] = p
  local f = assert(io.open(p, "wb"))
  f:write(text)
  f:close()
  return p
end

teardown(function() for _, p in ipairs(tmpfiles) do os.remove(p) end end)

local function csv_error(text, opts)
  local p = csv(text)
  local ok, err = pcall(ks.data.read_csv, p, opts)
  assert.is_false(ok)
  assert.truthy(err:find(p, 1, true), "message names the file: " .. err)
  return err
end

describe("ks.data.read_csv", function()
  it("reads features, string labels (sorted classes) and names", function()
    local p = csv("sepal,petal,species\n5.1,1.4,setosa\n7.0,4.7,versicolor\n6.3,6.0,virginica\n4.9,1.4,setosa\n")
    local x, y, classes, names = ks.data.read_csv(p, { label = "species" })
    assert.equal("float32", x:dtype())
    assert.same({ 4, 2 }, x:shape())
    -- values are the float32 roundings of the decimal numbers
    assert.same(ks.tensor({ { 5.1, 1.4 }, { 7.0, 4.7 }, { 6.3, 6.0 }, { 4.9, 1.4 } }):totable(), x:totable())
    assert.equal("int64", y:dtype())
    assert.same({ 0, 1, 2, 0 }, y:totable())
    assert.same({ "setosa", "versicolor", "virginica" }, classes)
    assert.same({ "sepal", "petal" }, names)
  end)

  it("sorts class names in byte order, not first-seen order", function()
    local x, y, classes = ks.data.read_csv(csv("a,l\n1,dog\n2,cat\n3,Zebra\n4,cat\n"), { label = "l" })
    assert.same({ "Zebra", "cat", "dog" }, classes)
    assert.same({ 2, 1, 0, 1 }, y:totable())
    assert.same({ { 1 }, { 2 }, { 3 }, { 4 } }, x:totable())
  end)

  it("keeps integer labels as they are (no class names)", function()
    local x, y, classes = ks.data.read_csv(csv("f1,f2,y\n1,2,3\n4,5,-1\n"), { label = -1 })
    assert.same({ 3, -1 }, y:totable())
    assert.is_nil(classes)
    assert.same({ { 1, 2 }, { 4, 5 } }, x:totable())
  end)

  it("takes the label column by 0-based index, anywhere", function()
    local x, y = ks.data.read_csv(csv("y,a,b\n1,10,20\n0,30,40\n"), { label = 0 })
    assert.same({ 1, 0 }, y:totable())
    assert.same({ { 10, 20 }, { 30, 40 } }, x:totable())
    x, y = ks.data.read_csv(csv("a,y,b\n10,1,20\n30,0,40\n"), { label = 1 })
    assert.same({ { 10, 20 }, { 30, 40 } }, x:totable())
  end)

  it("handles quotes, doubled quotes, embedded separators and line breaks, CRLF", function()
    local p = csv('"x, y","a ""b""",label\r\n"1",2,"multi\r\nline"\r\n3," 4 ","pl""ain"\r\n')
    local x, y, classes, names = ks.data.read_csv(p, { label = "label" })
    assert.same({ "x, y", 'a "b"' }, names)
    assert.same({ { 1, 2 }, { 3, 4 } }, x:totable())
    assert.same({ "multi\r\nline", 'pl"ain' }, classes)
    assert.same({ 0, 1 }, y:totable())
  end)

  it("reads without a header, other separators, no final newline, skips empty lines and a BOM", function()
    local x, y, classes, names = ks.data.read_csv(csv("\xEF\xBB\xBF1;2\n\n3;4"), { header = false, sep = ";" })
    assert.same({ { 1, 2 }, { 3, 4 } }, x:totable())
    assert.is_nil(y)
    assert.is_nil(classes)
    assert.is_nil(names)
  end)

  it("treats a lone CR as a line end (old Mac files); CRLF stays one line end, quoted CRs are kept", function()
    -- used to give 0 rows and the names a|b1|23|4
    local x, y, classes, names = ks.data.read_csv(csv("a,b\r1,2\r3,4\r"))
    assert.same({ 2, 2 }, x:shape())
    assert.same({ { 1, 2 }, { 3, 4 } }, x:totable())
    assert.same({ "a", "b" }, names)
    -- no final line end, empty CR lines skipped, mixed with LF and CRLF
    x = ks.data.read_csv(csv("a,b\r\r1,2\n3,4\r\n\r5,6"))
    assert.same({ { 1, 2 }, { 3, 4 }, { 5, 6 } }, x:totable())
    x, y, classes = ks.data.read_csv(csv('a,l\r1,"x\ry"\r2,"z\r\nw"\r3,x\r'), { label = "l" })
    assert.same({ { 1 }, { 2 }, { 3 } }, x:totable())
    assert.same({ "x", "x\ry", "z\r\nw" }, classes)
    assert.same({ 1, 2, 0 }, y:totable())
    -- lines count lone CRs, also inside quotes: the bad record starts on line 7
    local err = csv_error('a,l\r1,"x\ry"\r2,"z\r\nw"\r3,x\ry\r', { label = "l" })
    assert.truthy(err:find("line 7: 1 fields, expected 2"), err)
  end)

  it("fills missing and non-numeric values when asked", function()
    local x = ks.data.read_csv(csv("a,b\n1,\n,NA\n 2.5 ,3e2\n"), { fill = -1 })
    assert.same({ { 1, -1 }, { -1, -1 }, { 2.5, 300 } }, x:totable())
  end)

  it("header only gives empty tensors", function()
    local x, y = ks.data.read_csv(csv("a,b,c\n"), { label = "c" })
    assert.same({ 0, 2 }, x:shape())
    assert.same({ 0 }, y:shape())
  end)
end)

describe("ks.data.read_csv errors", function()
  it("rejects a misspelled option (it would silently change nothing)", function()
    local ok, err = pcall(ks.data.read_csv, csv("a,b\n1,2\n"), { lable = "b" })
    assert.is_false(ok)
    assert.truthy(err:find("read_csv: unknown option 'lable' (known: label, header, sep, fill); did you mean 'label'?",
      1, true), err)
  end)

  it("names the line for a wrong field count", function()
    local err = csv_error("a,b,c\n1,2,3\n4,5\n6,7,8\n")
    assert.truthy(err:find("line 3: 2 fields, expected 3"), err)
  end)

  it("names line and column of a missing or non-numeric value", function()
    local err = csv_error("a,b,c\n1,2,3\n4,x7,6\n")
    assert.truthy(err:find("line 3, column 1 %('b'%): non%-numeric value 'x7'"), err)
    err = csv_error("a,b,c\n1,,3\n")
    assert.truthy(err:find("line 2, column 1 %('b'%): missing value"), err)
    err = csv_error("1,2\n3,?\n", { header = false })
    assert.truthy(err:find("line 2, column 1: non%-numeric value '%?'"), err)
  end)

  it("counts lines inside quoted fields", function()
    local err = csv_error('a,l\n1,"x\ny"\nbad,z\n', { label = "l" })
    assert.truthy(err:find("line 4, column 0 %('a'%)"), err)
  end)

  it("rejects an unclosed quote and text after a closing quote", function()
    assert.truthy(csv_error('a,b\n"1,2\n'):find("never closed"))
    assert.truthy(csv_error('a,b\n"1"x,2\n'):find("after a closing quote"))
  end)

  it("rejects unknown label columns and bad options", function()
    assert.truthy(csv_error("a,b\n1,2\n", { label = "zz" }):find("no column named 'zz'"))
    assert.truthy(csv_error("a,b\n1,2\n", { label = 5 }):find("label column 5 out of range for 2 columns"))
    assert.truthy(csv_error("1,2\n", { header = false, label = "a" }):find("header=false"))
    assert.truthy(csv_error(""):find("empty file"))
    local p = csv("a\n1\n")
    local ok, err = pcall(ks.data.read_csv, p, { sep = ",," })
    assert.truthy(err:find("one%-character"))
    ok, err = pcall(ks.data.read_csv, p, { fill = "x" })
    assert.truthy(err:find("'fill' must be a number"))
    ok, err = pcall(ks.data.read_csv, p, { label = true })
    assert.truthy(err:find("'label' must be a column name or a 0%-based index"))
    ok, err = pcall(ks.data.read_csv, p, 5)
    assert.truthy(err:find("options table expected"))
    ok, err = pcall(ks.data.read_csv, nil)
    assert.truthy(err:find("path %(string%) expected"))
    ok, err = pcall(ks.data.read_csv, "/nonexistent/x.csv")
    assert.truthy(err:find("/nonexistent/x.csv: cannot open", 1, true))
  end)
end)
