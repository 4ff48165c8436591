--- pretrain_backbone.lua: pretrain a small torchvision-style ResNet
-- (nn.resnet, 3x3 stem, 1 input channel) on Fashion-MNIST for few-shot
-- transfer (scripts/transfer_fashion.lua), and save it as safetensors with
-- metadata (method, split, epochs, seed, held-out accuracy, layers, width,
-- mean, std, the command line).
--
--   kshot scripts/pretrain_backbone.lua --method supervised --out models/fashion_resnet_supervised.safetensors
--   kshot scripts/pretrain_backbone.lua --method simclr --epochs 4 --images-per-epoch 15000
--   kshot scripts/pretrain_backbone.lua --method protonet --episodes 300
--
-- Methods (kshot.fewshot.pretrain_run has the details):
--   supervised  cross-entropy on the base classes' training images, 10% held
--               out per class for early stopping (best epoch's weights kept),
--               crop with 2-pixel padding + horizontal flip
--   simclr      self-supervised NT-Xent on two augmented views of all 60,000
--               training images (labels unused); the projection head is
--               dropped and fc is a zero placeholder [1, 8 * width]
--   rotation    predict 0/90/180/270 degrees on all training images (cheaper)
--   protonet    prototypical-network episodes on the base classes
-- Optimiser: SGD, momentum 0.9 (Nesterov), weight decay, cosine schedule per
-- step. Same seed, same machine -> same checkpoint.
local ks = require "kshot"
local cli = require "kshot.cli"
local R = require "kshot.fewshot.pretrain_run"

local D = R.DEFAULTS
local args = cli.new {
  name = "pretrain_backbone.lua",
  description = "Pretrain a small ResNet on Fashion-MNIST (supervised, simclr, rotation or protonet)\n"
    .. "and save it as a safetensors checkpoint with metadata.",
  options = {
    { "--method", "pretraining method", choices = { "supervised", "simclr", "rotation", "protonet" },
      default = "supervised" },
    { "--base", "base classes (supervised / protonet train on them; held-out scores use them)",
      type = "list:integer", default = D.base, min = 0, max = 9, unique = true },
    { "--layers", "ResNet blocks per stage", type = "list:integer", default = D.layers, min = 1 },
    { "--width", "ResNet width (stage i has width * 2^(i-1) channels)", type = "integer", default = D.width, min = 1 },
    { "--epochs", "epochs (held-out score and best-weights check after each)", type = "integer",
      default = D.epochs },
    { "--batch", "images per step (rotation: images incl. their 4 rotations)", type = "integer",
      default = D.batch },
    { "--images-per-epoch", "images per epoch (default: the whole pool; a random subset otherwise)",
      type = "integer" },
    { "--lr", "peak learning rate (cosine to 0)", type = "number", default = D.lr },
    { "--weight-decay", "SGD weight decay", type = "number", default = D.weight_decay },
    { "--temperature", "simclr: NT-Xent temperature", type = "number", default = D.temperature },
    { "--proj-dim", "simclr: projection head output size", type = "integer", default = D.proj_dim },
    { "--way", "protonet: classes per episode", type = "integer", default = D.way },
    { "--shot", "protonet: support images per class", type = "integer", default = D.shot },
    { "--query", "protonet: query images per class", type = "integer", default = D.query },
    { "--episodes", "protonet: episodes per epoch", type = "integer", default = D.episodes },
    { "--eval-episodes", "protonet: held-out episodes", type = "integer", default = D.eval_episodes },
    { "--max-steps", "stop after this many steps in all (smoke tests)", type = "integer" },
    { "--seed", "seed (weights, split, batches, augmentation)", type = "integer", default = D.seed },
    { "--threads", "kshot threads (1: the machine is shared; 2 threads contend)", type = "integer", default = 1,
      min = 1, max = 256 },
    { "--out", "checkpoint path (default: models/fashion_resnet_<method>.safetensors)", path = "out_file" },
    { "--path", "Fashion-MNIST folder (default: $KSHOT_FASHION_MNIST or /usr/share/datasets/fashion-mnist)",
      path = "in_dir" },
    { "-q --quiet", "no progress bar", type = "flag" },
  },
}:parse(arg)

ks.set_num_threads(args.threads)
local command = "kshot scripts/pretrain_backbone.lua " .. table.concat(arg, " ")
local out = args.out or ("models/fashion_resnet_" .. args.method .. ".safetensors")
if not args.out then -- the default path, checked before training as cli checks a given --out
  local ok, why = cli.check_path("out_file", out)
  if not ok then cli.fail(args, "%s (run from the repository root, or pass --out)", why) end
end
local x, y = cli.call(args, ks.data.fashion_mnist, { split = "train", path = args.path })
local ok, model, info, o = pcall(R.run, {
  method = args.method, images = x, labels = y, base = args.base, layers = args.layers, width = args.width,
  epochs = args.epochs, batch = args.batch, images_per_epoch = args.images_per_epoch, lr = args.lr,
  weight_decay = args.weight_decay, temperature = args.temperature, proj_dim = args.proj_dim, way = args.way,
  shot = args.shot, query = args.query, episodes = args.episodes, eval_episodes = args.eval_episodes,
  seed = args.seed, max_steps = args.max_steps, progress = not args.quiet,
  log = function(s) if not args.quiet then io.stderr:write(s, "\n") end end,
})
if not ok then cli.fail(args, "%s", tostring(model)) end
local meta = R.metadata(o, info, command)
R.save(out, model, meta)
print(("%s: %s, %d epochs (best %d), %d steps, %s %.2f%%, %.0f s"):format(out, args.method, info.epochs,
  info.best_epoch, info.steps, info.held_out_what, info.held_out, info.seconds))
