-- tactus.io.{file,json,csv,tsv}: the reference's file-format modules, on top of File.
local csv = require("tactus.io.csv")
local json = require("tactus.io.json")
local file = require("tactus.io.file")
local tsv = require("tactus.io.tsv")

Procedure {
  output = { records = field.number{required = true}, summary = field.string{required = true},
             quoted = field.string{}, tsv_category = field.string{}, csv_text = field.string{},
             json_back = field.number{}, missing = field.boolean{} },
  function(input)
    file.write("data/sample.csv",
      'name,score,category\r\nAlice,92,eng\nBob,78,ops\n"Carol, Jr.",88,"e""ng"\n\nDan,95,eng\nEve,60,ops')
    local data = csv.read("data/sample.csv")
    local high = {}
    for _, row in ipairs(data) do
      local score = tonumber(row.score)
      if score >= 85 then
        high[#high + 1] = { name = row.name, score = score, category = row.category }
      end
    end
    csv.write("output/high.csv", high)
    tsv.write("output/high.tsv", high, { headers = { "name", "category" } })
    json.write("output/summary.json", { total = #data, high = #high })
    local summary = string.format("Processed %d records, found %d high performers", #data, #high)
    file.write("output/summary.txt", summary)
    return {
      records = #data,
      summary = file.read("output/summary.txt"),
      quoted = csv.read("output/high.csv")[2].name,
      tsv_category = tsv.read("output/high.tsv")[2].category,
      csv_text = file.read("output/high.csv"),
      json_back = json.read("output/summary.json").high,
      missing = file.exists("output/nope.csv"),
    }
  end
}
