-- L24: a result nested thousands deep is refused by the converter's depth cap.
local t = {}
local cur = t
for i = 1, 5000 do cur.next = {}; cur = cur.next end
return t
