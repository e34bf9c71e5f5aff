-- SPDX-License-Identifier: MIT
-- SWUpdate requires this module at start-up (`require "swupdate_handlers"` on
-- the Lua path). It registers zckup's image type "zckup". A system that has
-- its own swupdate_handlers.lua adds the two lines below to it instead.
local swupdate = require("swupdate")
require("zckup_swupdate").register(swupdate)
