return require "kshot.optim.lr_scheduler"
