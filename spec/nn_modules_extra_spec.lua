-- The nn modules and F functions ported for few-shot code beyond images: activations with options,
-- PReLU, channel dropout, GroupNorm / InstanceNorm, Conv1d and the 1-D pools, ConvTranspose2d, LSTM and
-- GRU (bindings/lua/kshot/nn/layers_extra.lua, functional_extra.lua, conv_extra.lua, recurrent.lua).
-- Expected numbers: torch 1.13 with the same inputs and weights, printed with 6 decimals by
-- spec/fixtures/torch_refs/nn_modules_extra.py, so comparisons use 1e-5 tolerances.
local ks = require "kshot"
local nn = require "kshot.nn"
local autograd = require "kshot.autograd"
local help = require "kshot.help"
local F = ks.functional
local ref = require "spec.helpers.torch_reference"
local close, err_of = ref.close, ref.err_of

local R = {
  softplus = {
    0.346574, 2.576871, 3.941799, 3.452838, 1.373113, 0.029337, 0.000468, 0.000193, 0.003194, 0.381331, 2.627946,
    3.952673, 3.418396, 1.313886, 0.025964, 0.000439, 0.000198, 0.003546, 0.418327, 2.67828, 3.96243, 3.382988,
    1.254867, 0.022988},
  hardtanh = {
    0, 1.5, 1.5, 1.5, 1.339953, -1.403133, -2, -2, -2, 0.067254, 1.5, 1.5, 1.5, 1.276396, -1.465917, -2, -2, -2,
    0.13449, 1.5, 1.5, 1.5, 1.212475, -1.528287},
  relu6 = {
    0, 5.153741, 6, 6, 2.679906, 0, 0, 0, 0, 0.134509, 5.255893, 6, 6, 2.552791, 0, 0, 0, 0, 0.26898, 5.356559, 6,
    6, 2.42495, 0},
  mish = {
    0, 2.55128, 3.938941, 3.446342, 1.229311, -0.303534, -0.105096, -0.076452, -0.194072, 0.041794, 2.604205,
    3.949867, 3.411522, 1.160414, -0.300192, -0.102736, -0.077192, -0.199836, 0.086428, 2.656247, 3.959671,
    3.375703, 1.09138, -0.296226},
  logsigmoid = {
    -0.693147, -0.073261, -0.019227, -0.031165, -0.232585, -1.622931, -3.516457, -3.949267, -2.602077, -0.660085,
    -0.069737, -0.019021, -0.03224, -0.246111, -1.673635, -3.547988, -3.936422, -2.553548, -0.628161, -0.066425,
    -0.018838, -0.033382, -0.260409, -1.724599},
  hardswish = {
    0, 2.395146, 3.941799, 3.452838, 0.969222, -0.373436, 0, 0, -0.199873, 0.034381, 2.46499, 3.952673, 3.418397,
    0.909729, -0.374806, 0, 0, -0.217358, 0.07026, 2.53467, 3.96243, 3.382988, 0.851253, -0.374867},
  hardsigmoid = {
    0.5, 0.929478, 1, 1, 0.723325, 0.266145, 0, 0, 0.079156, 0.511209, 0.937991, 1, 1, 0.712733, 0.25568, 0, 0,
    0.087908, 0.522415, 0.94638, 1, 1, 0.702079, 0.245285},
  softmin = {
    0.072708, 0.014966, 0.000593, 0.000621, 0.019039, 0.800947, 0.997203, 0.999002, 0.908252, 0.184087, 0.002205,
    0.000377, 0.000652, 0.022937, 0.787099, 0.878223, 0.99897, 0.974273, 0.158848, 0.001788, 0.000378, 0.00279,
    0.054053, 0.11999},
  glu = {
    0, 2.497801, 0.039803, -0.027037, -2.354975, 0.065987, 0.641168, 0.036738, -2.089847, -2.313646, 3.053989,
    0.602999},
  glu1 = {
    0, 2.014689, 0.739339, 0.099381, 0.026153, -0.109171, -1.860193, -3.677252, -2.477944, 0.065046, 2.025454,
    0.704542},
  prelu = {
    0, 2.576871, 3.941799, 3.452838, 1.339953, 0.140313, 0.34863, 0.392981, -1.262533, 0.067254, 2.627946, 3.952673,
    3.418396, 1.276396, -0.366479, -0.879696, 0.391671, 0.247255, 0.13449, 2.67828, 3.96243, 3.382988, 1.212475,
    -0.764144},
  prelu_gx = {
    0, 0.29552, 0.564642, 0.783327, 0.932039, -0.099749, -0.097385, -0.086321, 0.337732, 0.42738, 0.14112,
    -0.157746, -0.442521, -0.687766, -0.217894, -0.244383, 0.099616, 0.092581, -0.772764, -0.550685, -0.279415,
    0.016814, 0.311542, 0.28922},
  prelu_gw = {
    4.717375, -1.996183, -2.589612},
  groupnorm = {
    0, 0, 0, 0.387605, 0.082279, -0.105504, -0.155652, 0.370382, 0.88794, 1.126248, 0.685747, -0.001064, 0, 0, 0,
    0.519493, 0.572255, 0.386818, 0.234833, -0.054573, 0.077265, 0.563448, 1.075222, 1.17411},
  groupnorm_gx = {
    -0.09344, -0.029837, -0.014367, 0.10483, 0.046049, -0.013235, 0.226824, 0.186923, 0.12822, -0.010669, -0.186703,
    -0.344595, -0.005878, -0.006524, -0.008872, -0.056682, 0.007372, 0.070584, -0.029449, -0.019418, 0.004526,
    0.072708, 0.040846, -0.069213},
  groupnorm_gw = {
    3.738221, -1.816012, -3.680643, 1.190295},
  instancenorm = {
    0, 0, 0, 0, 0, 0, 0.451789, 0.730079, 0.564226, 0.135474, -0.087633, 0.138718, 0.885301, 1.152446, 0.689725,
    0.002804, -0.157645, 0.383718, 0, 0, 0, 0, 0, 0, 0.686337, 0.584885, 0.179478, -0.086853, 0.076941, 0.491865,
    1.109307, 0.748227, 0.07489, -0.174878, 0.271873, 0.926929},
  instancenorm_unbatched = {
    -1.110249, 0.595915, 1.267143, 0.496277, -1.249087, -0.700876, -1.064, -0.510432, 0.624043, 1.651266, 1.391124,
    0.865682, -0.120715, -0.969729, -1.166362},
  conv1d_shape = {2, 6, 4},
  conv1d = {
    0.889013, 0.215064, -0.33515, 0.206225, -1.478162, -1.393619, -0.261721, 0.247544, 1.411836, 2.002889, 1.443252,
    0.402531, 0.481683, -0.321675, -0.167366, 0.5343, 0.036405, 0.972152, 1.830795, 1.450128, -0.586666, -0.700829,
    -1.697056, -2.02547, -0.961649, 0.093202, 0.550742, -0.331525, 2.166897, 1.620346, 0.081259, -0.233016,
    -0.311562, -0.830508, 0.22106, 1.411481, 0.687042, 0.976332, 0.574582, 0.288382, -0.973631, -1.658096, -1.76191,
    -1.208777, 0.198336, 0.580179, 1.083721, 0.827563},
  conv1d_gx = {
    0, -0.760603, 0, -1.219143, 0, -0.987163, 0, -0.127162, 0, 0, 0.155945, 0, 0.969881, 0, 1.437654, 0, 1.007023,
    0, 0, 0.72508, 0, 0.396007, 0, -0.039937, 0, -0.736554, 0, 0, -1.220705, 0, -1.815336, 0, -1.825165, 0,
    -0.842704, 0, 0, -0.275353, 0, 0.592201, 0, 0.943477, 0, 1.068634, 0, 0, 1.50574, 0, 1.53757, 0, 1.106695, 0,
    0.20597, 0, 0, -0.421709, 0, -1.302722, 0, -1.333124, 0, -0.762882, 0, 0, -0.810322, 0, -0.212127, 0, 0.393395,
    0, 0.623777, 0},
  conv1d_gw = {
    -0.402753, -1.446525, -1.071677, 0.233275, 1.326016, -0.472541, 4.113127, 2.886781, 2.059305, -2.449929,
    -0.089207, 0.882614, 2.444307, 2.87938, 2.093815, -1.449299, -1.370293, 0.910627, 0.771286, 2.184458, 1.549707,
    -2.679253, -2.095953, -1.475524, 1.044491, 2.278172, 3.98309, -3.592995, -3.879139, -3.774852, -0.25285,
    -1.053684, 0.427303, 0.895866, 0.170539, -0.398125},
  conv1d_gb = {
    4.933776, 2.482517, -3.701577, -4.319798, 1.557442, 5.092836},
  maxpool1d = {
    1.434712, 1.999147, 1.350926, -1.262533, 1.587336, 1.978716, 1.169834, -1.073146, 1.718324, 1.931315, -0.575807,
    -0.869132, 1.825891, 1.85759, 0.7625, -0.653268, 1.90857, 1.90857, 0.541812, -0.428504, 1.965235, 1.965235,
    0.313734, -0.197895, 1.995115, 1.490226, 0.081388, 0.035404, 1.9978, 1.9978},
  avgpool1d = {
    0.717356, 1.594928, -0.093142, -1.589489, 0.185967, 1.574275, -0.278158, -1.562385, 0.369399, 1.540812,
    -1.175471, -1.513985, 0.547797, 1.481994, -0.634344, -1.232212, 0.718728, 1.402976, -0.80066, -1.356218,
    1.534045, 1.304833, -0.956064, -1.249001, 1.029005, 0.785807, -1.098435, -1.124761, 1.164119, 1.056777},
  avgpool1d_ceil = {
    1.196196, -0.567939, -0.358607, 0.286061, -1.056034, 1.271364, -1.279441, 0.875245, -0.01136, 0.086257,
    0.801337, -1.268059, 1.254338, -1.108435, 0.380366, -0.45127, -0.478783, 1.157371},
  adaptive1d = {
    1.14462, 1.077775, -1.589489, 0.185967, 0.933299, -1.320888, 0.369399, 1.540812, -1.41621, -0.693396, 1.481994,
    -0.634344, -0.521181, 1.522666, -0.80066, -1.356218, 1.567873, 0.250299, -1.249001, 1.029005, 0.06493,
    -1.595504, 1.164119, 1.056777},
  convt_shape = {2, 6, 6, 6},
  convt = {
    -0.06727, 0.227253, 0.247362, 0.305481, -0.206316, -0.109146, 0.201919, -0.511234, -0.526776, -1.631831,
    -1.079698, -1.52841, 0.479814, 0.269992, 0.000753, -0.159562, 0.224657, 0.239434, -1.175879, -0.685628,
    -1.519466, -0.376727, -0.304964, 0.554055, -0.497472, -0.545034, -0.248248, -0.117675, -0.058106, -0.172669,
    0.753288, 0.647583, 1.216925, 0.779428, 0.547017, 0.103935, 0.608682, 0.968348, 1.247001, 1.650576, 1.20471,
    1.248856, -0.154666, 0.286312, 0.557561, 0.687346, -0.149078, -0.095416, 0.869787, 0.477066, 0.707665,
    -0.012134, 0.166938, -0.24005, 1.27066, 1.159803, 0.532629, 0.350956, 0.669542, 0.872425, -0.388107, -0.28554,
    -0.835609, -0.391978, -0.156881, 0.277999, -0.01628, -0.076005, 0.286154, 0.36527, 0.397537, 0.231702, 0.592172,
    0.36059, 0.389244, 0.40175, 0.835521, 0.746076, 0.189398, 0.979722, 1.042732, 2.170499, 1.471993, 1.930095,
    0.090781, 0.231877, 0.54147, 0.575822, 0.22294, 0.136942, 1.816626, 1.306975, 2.031058, 0.856526, 0.840516,
    0.017002, 0.847937, 0.913449, 0.520402, 0.467464, 0.449036, 0.639702, -0.337753, -0.2425, -0.748465, -0.297123,
    -0.059065, 0.354996, 0.281485, 0.169226, 0.584527, 0.611822, 0.719763, 0.478042, 0.753332, 1.462664, 1.972885,
    2.468483, 1.396307, 1.437235, 0.015616, 0.076358, 0.122267, -0.069211, -0.342586, -0.37608, 1.116411, 0.290957,
    0.346298, -0.861017, -0.1492, -0.722171, 0.379029, 0.419794, -0.049542, 0.148532, 0.362356, 0.643498, -0.577722,
    -0.238109, -0.418691, 0.248204, 0.09439, 0.463493, -0.864126, -1.099318, -1.434088, -1.388209, -0.86602,
    -0.732166, 0.11299, -0.004642, 0.414254, 0.658638, 0.945911, 0.732142, -0.353379, 0.13198, 0.286789, 0.802656,
    0.218147, 0.403001, -0.523675, -0.58011, -0.072274, -0.561785, -0.97255, -1.330483, 0.577109, 0.241034,
    0.393591, -0.259461, -0.093685, -0.44511, -0.148763, -0.068538, -0.55733, -0.282172, -0.087012, 0.236209,
    -0.669061, -0.597961, -1.071845, -1.091111, -1.107669, -0.842524, -0.969915, -1.699834, -2.13675, -2.589581,
    -1.46713, -1.545466, -0.313812, -0.289616, -0.308433, -0.02668, 0.144406, 0.210248, -1.44441, -0.628829,
    -0.595298, 0.526354, -0.257348, 0.252984, -0.51439, -0.613968, -0.117937, -0.430294, -0.615106, -0.957746,
    0.315336, -0.010239, 0.084806, -0.533939, -0.345972, -0.658512, 0.499501, 0.544457, 0.246648, 0.115165, 0.06019,
    0.174171, -1.187305, -1.317182, -2.316818, -2.065911, -1.432655, -0.864539, -0.110473, -0.375074, -0.292265,
    -0.297424, 0.154618, 0.034077, 0.226994, 0.874739, 1.223052, 2.075163, 1.395072, 1.584762, -0.369473, -0.102995,
    0.097349, 0.234902, -0.242173, -0.21428, 0.23499, -0.17379, -0.107358, -0.775643, -0.498162, -0.805866,
    1.171614, 1.065413, 1.614439, 1.165804, 0.934192, 0.497674, 0.886374, 1.193646, 0.72287, 0.637382, 0.182415,
    0.475195, -0.053692, -0.322805, -0.742959, -0.934465, -0.479064, -0.370115, 0.688668, 0.212041, 0.140068,
    0.058771, 0.919948, 0.776325, 0.135898, 0.558845, 0.50434, 1.178379, 0.873983, 1.182267, 0.05085, 0.268756,
    0.476163, 0.535325, 0.092231, 0.084151, 0.123913, 0.060372, 0.454259, 0.507231, 0.521675, 0.331304, 1.760802,
    1.944451, 2.861702, 2.595835, 1.88296, 1.366081, 0.51946, 0.736967, 0.580632, 0.552278, 0.179931, 0.319538,
    0.311906, -0.419249, -0.780157, -1.646495, -0.815699, -1.030523, 0.811639, 0.619175, 0.409293, 0.389696,
    0.813501, 0.839557, 0.192292, 0.639205, 0.609069, 1.287707, 0.932685, 1.238976, 0.047254, 0.007419, 0.474216,
    0.275328, 0.059899, -0.21979, 1.815334, 1.545767, 2.118002, 1.185368, 0.960314, 0.324688, 0.212053, 0.320517,
    -0.187839, -0.144285, -0.163508, 0.135054, -0.780488, -1.291076, -1.915199, -2.022404, -1.038574, -0.860144,
    0.382054, 0.294227, 0.425766, 0.573389, 0.811444, 0.739723, 0.384094, 0.820338, 1.071974, 1.432283, 0.819793,
    0.894979, -1.0159, -0.67669, -0.826565, -0.172095, -0.343198, 0.007973, -0.246122, -0.429604, 0.585987,
    0.251007, 0.051584, -0.583277, 0.589809, 0.675345, 1.009218, 0.750929, 0.365879, 0.134738, -0.496113, -0.334935,
    -1.030329, -1.125071, -1.301595, -0.907638, -0.381251, -0.821136, -1.064232, -1.414691, -0.790387, -0.869505,
    -0.033601, -0.070263, 0.090168, 0.2793, 0.445127, 0.382418, -0.461391, -0.362194, -0.855216, -0.541797,
    -0.356313, -0.01517, -2.094763, -1.857304, -2.251811, -1.377796, -1.18764, -0.663114, -0.345191, -0.438687,
    0.128096, 0.03934, -0.00882, -0.34783, 0.457316, 0.996111, 1.498543, 1.589166, 0.574443, 0.464954, -0.685127,
    -0.67428, -0.848361, -1.057312, -1.186114, -1.128239, -0.62633, -1.06899, -1.292552, -1.619764, -0.978253,
    -1.064413},
  convt_gx = {
    -0.251522, -0.142501, -0.027219, 0.089258, 0.93058, 1.052443, 1.128063, 1.154119, -0.358986, -0.579752,
    -0.775047, -0.936287, -0.603229, -0.798659, -0.958996, -1.077198, 1.217213, 1.425178, 1.570524, 1.646862,
    -0.333887, -0.665116, -0.967124, -1.226635, -0.451226, -0.370265, -0.273037, -0.163807, 2.012492, 1.965167,
    1.831497, 1.617351, -1.644755, -1.850392, -1.974727, -2.012296, -0.867534, -0.966561, -1.023116, -1.03472,
    0.609582, 0.617706, 0.598687, 0.553365, -0.435459, -0.517381, -0.576574, -0.610428, 0.438981, 0.500655,
    0.540331, 0.556266, 0.848545, 0.666829, 0.455812, 0.22477, -1.145377, -1.090649, -0.987999, -0.841937, -1.09822,
    -0.990725, -0.839703, -0.651782, 1.33856, 1.105169, 0.823217, 0.505095, -1.658013, -1.618253, -1.507385,
    -1.330288, 0.2479, 0.348402, 0.433597, 0.499738, 0.371537, -0.048948, -0.467283, -0.865086, -1.453867,
    -1.131828, -0.76006, -0.354895, -0.72241, -0.551714, -0.356775, -0.146162, 0.21827, 0.092892, -0.036571,
    -0.164423, -0.51429, -0.431458, -0.329671, -0.213396},
  convt_gw = {
    3.03849, 6.482762, 15.361021, 15.231695, 7.51293, 1.265168, 9.584701, 8.64041, 7.281166, 1.00283, -10.955161,
    -14.556254, 2.516135, -1.475373, -11.141361, -14.650524, -13.861774, -9.700969, -0.744628, 3.37863, 14.166903,
    16.192024, 11.935896, 6.394444, 9.310455, 9.967897, 11.748485, 6.142122, -7.113407, -12.458478, 6.140318,
    2.398077, -7.358294, -12.632475, -16.058327, -13.614517, -2.804857, -6.807021, -16.69392, -16.09276, -7.089345,
    -0.252059, -10.778823, -9.977715, -6.831815, 0.030803, 12.548025, 16.026867, -3.441807, 1.024621, 12.734663,
    16.110619, 14.361313, 9.540131, 0.421414, -4.35837, -15.713386, -17.120712, -11.280165, -5.047484, -11.011042,
    -11.592933, -11.061991, -4.771688, 9.059617, 14.19644, -6.802655, -2.360096, 9.302609, 14.355377, 16.530491,
    13.274765},
  convt_gb = {
    8.250842, 5.260319, -5.202339, -8.275221, 0.406569, 8.510859},
  convt2_shape = {1, 3, 6, 6},
  convt2 = {
    -0.306112, 0.279363, 0.229713, 0.831746, 0.591695, 0.078679, 0.538394, 0.5829, -0.508902, -0.814513, -1.171072,
    -1.503435, 0.505895, 0.106487, 0.037243, -0.622293, -0.459594, -0.027178, -0.946998, -1.169067, -0.006254,
    0.14211, 0.939222, 1.096703, -0.608619, -0.471908, -0.297054, 0.293449, 0.239316, -0.029537, 0.790861, 0.945943,
    0.293182, 0.06987, -0.426371, -0.39251, 0.594576, 0.74679, 0.499873, 0.091694, 0.026875, 0.080586, -1.175608,
    -1.599097, -0.934363, -1.150253, 0.01399, -0.229586, -0.46646, -0.878396, -0.606789, -0.459247, -0.287912,
    -0.116174, 0.951755, 1.360457, 1.169251, 1.522268, 0.501882, 0.894687, 0.248851, 0.841477, 0.597289, 0.738689,
    0.49371, 0.129473, -0.438293, -0.87192, -0.824971, -1.134477, -0.587328, -0.647558, 0.016501, -0.643115,
    -0.473194, -0.876409, -0.604787, -0.117932, 0.03423, 0.196002, 0.964019, 1.374787, 1.164258, 1.615264,
    -0.278689, 0.321368, 0.258316, 0.845986, 0.599832, 0.083765, 0.48341, 0.506406, -0.563274, -0.883589, -1.183683,
    -1.532493, 0.487407, 0.062034, 0.006122, -0.653255, -0.479795, -0.033527, -0.577374, -0.521242, 0.108652,
    0.48272, 0.712451, 0.707926},
  lstm_names = "weight_ih_l0 weight_hh_l0 bias_ih_l0 bias_hh_l0 weight_ih_l0_reverse weight_hh_l0_reverse bias_ih_l0_reverse bias_hh_l0_reverse"
    .. " weight_ih_l1 weight_hh_l1 bias_ih_l1 bias_hh_l1 weight_ih_l1_reverse weight_hh_l1_reverse bias_ih_l1_reverse bias_hh_l1_reverse",
  lstm_out = {
    -0.122282, -0.114557, -0.163061, 0.107015, 0.628482, 0.301567, 0.014393, 0.202519, -0.075551, -0.203708,
    -0.017908, 0.239785, 0.644838, 0.301508, 0.039841, 0.170621, -0.084729, -0.191681, 0.14574, 0.255372, 0.559619,
    0.184458, -0.029168, 0.155013, -0.168935, -0.085731, 0.354117, 0.20618, 0.381553, 0.002471, -0.144201, 0.120767,
    -0.214144, 0.01668, 0.470695, 0.13607, 0.251167, 0.005212, -0.071755, 0.121753, -0.121303, -0.055438, 0.195672,
    0.219432, 0.615606, 0.305114, -0.01955, 0.224934, -0.082406, -0.064682, 0.256894, 0.192661, 0.652013, 0.318169,
    0.040304, 0.184746, -0.077019, -0.128619, 0.298782, 0.217783, 0.6404, 0.296823, 0.035927, 0.160462, -0.113411,
    -0.069643, 0.39797, 0.191177, 0.513793, 0.151795, -0.058384, 0.130266, -0.220677, 0.035055, 0.502803, 0.135224,
    0.309266, 0.032491, -0.071174, 0.046369},
  lstm_hn = {
    -0.513737, -0.353449, -0.240595, 0.194813, -0.368398, -0.297385, -0.192934, 0.131369, 0.121447, 0.235105,
    0.073192, -0.627849, 0.11915, 0.162801, -0.163902, -0.387087, -0.214144, 0.01668, 0.470695, 0.13607, -0.220677,
    0.035055, 0.502803, 0.135224, 0.628482, 0.301567, 0.014393, 0.202519, 0.615606, 0.305114, -0.01955, 0.224934},
  lstm_cn = {
    -0.699746, -0.48774, -0.423771, 0.652041, -0.5091, -0.411999, -0.31554, 0.372252, 0.254332, 0.70045, 0.130523,
    -1.225137, 0.398955, 0.550687, -0.213317, -0.796416, -0.597938, 0.063888, 0.835676, 0.242173, -0.585818,
    0.135854, 0.947841, 0.238632, 1.158395, 0.953017, 0.039781, 0.3547, 1.217705, 1.015132, -0.050585, 0.363163},
  lstm_gx = {
    0.071698, 0.041361, -0.000855, 0.026247, 0.018557, -0.004286, -0.06305, -0.049005, -0.03695, 0.015444,
    -0.056136, -0.105842, 0.042311, -0.00677, -0.054454, 0.033122, 0.007914, -0.026552, 0.007179, 0.002366,
    -0.009381, -0.042394, -0.031285, -0.010528, -0.031551, -0.079225, -0.094158, -0.01113, -0.015416, -0.012979},
  lstm_gw = {
    0.151519, 0.070348, 0.003884, 0.024719, 0.039475, 0.016335, 0.000006, 0.015212, 0.004839, -0.013795, -0.020396,
    -0.016164, 0.075207, 0.055787, 0.021404, 0.017024, 0.187164, 0.080176, 0.000971, 0.041153, 0.08752, 0.040875,
    0.004874, 0.019502, 0.028991, 0.009721, 0.001215, 0.016737, 0.061328, 0.039948, 0.017087, 0.023407, 0.123391,
    0.059879, 0.005484, 0.00975, 0.166068, 0.112793, 0.034873, 0.014274, 0.062514, 0.08464, 0.057737, 0.026567,
    0.024882, 0.068372, 0.068392, 0.042642, 0.235809, 0.139297, 0.039354, 0.060914, 0.279459, 0.14194, 0.027394,
    0.081348, 0.018931, -0.006831, -0.016884, -0.007401, 0.031207, 0.03696, 0.02339, 0.013685},
  gru_out = {
    -0.819913, -0.312876, -0.191937, -0.109659, 0.448183, -0.377562, -0.118509, 0.497463, -0.843945, -0.122306,
    -0.242631, 0.130732, 0.503391, -0.415654, -0.155007, 0.343977, -0.843993, -0.105617, -0.070547, -0.032732,
    0.378145, -0.424538, -0.292599, 0.400943, -0.423155, -0.026752, 0.069614, -0.198512, 0.440682, -0.499526,
    -0.619622, 0.114706, -0.592954, 0.052701, 0.096554, -0.022324, 0.309677, -0.403812, -0.484719, 0.269805,
    -0.78915, 0.091373, 0.060321, -0.001114, 0.455235, -0.377617, -0.298524, 0.406512, -0.844945, 0.171715,
    -0.048975, 0.118934, 0.285234, -0.228514, -0.149591, 0.396597, -0.842416, 0.194855, 0.027937, 0.053284, 0.41256,
    -0.309909, -0.329777, 0.322314, -0.456801, 0.097611, 0.132698, -0.089728, 0.162625, -0.171836, -0.393309,
    0.218075, -0.518601, 0.138055, 0.160007, -0.026288, 0.370201, -0.138919, -0.503813, 0.099161},
  gru_hn = {
    -0.528498, 0.233344, -0.110604, -0.412453, -0.497902, 0.20698, 0.11512, -0.515085, 0.772573, -0.092224,
    -0.604332, 0.021714, 0.825233, -0.008402, -0.674155, 0.360144, -0.456801, 0.097611, 0.132698, -0.089728,
    -0.518601, 0.138055, 0.160007, -0.026288, 0.448183, -0.377562, -0.118509, 0.497463, 0.503391, -0.415654,
    -0.155007, 0.343977},
  gru_gx = {
    0.128577, 0.170282, 0.126541, -0.011529, -0.010808, -0.034518, 0.011422, -0.015484, -0.046027, -0.014931,
    -0.054879, -0.080633, 0.141687, 0.160884, 0.12407, 0.026428, -0.012237, -0.056986, 0.069169, 0.034424,
    -0.011772, -0.019495, -0.062741, -0.064446, 0.115474, 0.135078, 0.123748, 0.19478, 0.223392, 0.163306},
  gru_gw = {
    0.008764, 0.004599, -0.005215, -0.009403, 0.010231, 0.005675, -0.002701, -0.009211, -0.00489, -0.010997,
    -0.015337, -0.009266, -0.004304, -0.004759, -0.00186, 0.006828, 0.12042, 0.134145, 0.090095, 0.019716,
    -0.092793, -0.083987, -0.040391, 0.028731, 0.007373, -0.000265, -0.012491, -0.007585, -0.089315, 0.010338,
    0.004193, -0.046953, -0.050581, -0.013684, 0.023889, 0.027484, 0.048734, 0.012512, -0.040053, -0.071364,
    0.334256, 0.132358, -0.110804, -0.227555, -0.180628, -0.087387, -0.044625, 0.101596},
  gru_unbatched = {
    0.166904, -0.276841, 0.423058, -0.482075, 0.267366, -0.455893, 0.14395, -0.464806},
  gru_unbatched_hn = {
    0.14395, -0.464806},
}

-- det(shape, a, s) = sin(arange(numel) * a) * s, reshaped (as the torch script)
local function det(shape, a, s)
  local n = 1
  for _, d in ipairs(shape) do n = n * d end
  return (ks.arange(n):float() * a):sin():reshape(shape) * (s or 1)
end

-- parameter i (0-based, registration order) = det(shape, a0 + 0.1 i, 0.5), as the script's fill
local function fill(m, a0)
  local i = 0
  ks.no_grad(function()
    for _, p in m:named_parameters() do
      p:copy_(det(p:shape(), a0 + 0.1 * i, 0.5))
      i = i + 1
    end
  end)
  return m
end

local function grad_check(fn, inputs) assert.is_true(autograd.gradcheck(fn, inputs)) end

describe("activation modules", function()
  local x = det({2, 3, 4}, 0.7, 4)

  it("match torch, positional and keyword forms", function()
    close(R.softplus, nn.Softplus(2, 5)(x))
    close(R.softplus, nn.Softplus({beta = 2, threshold = 5})(x))
    close(R.hardtanh, nn.Hardtanh(-2, 1.5)(x))
    close(R.hardtanh, nn.Hardtanh({min_val = -2, max_val = 1.5})(x))
    close(R.relu6, nn.ReLU6()(x * 2))
    close(R.mish, nn.Mish()(x))
    close(R.logsigmoid, nn.LogSigmoid()(x))
    close(R.hardswish, nn.Hardswish()(x))
    close(R.hardsigmoid, nn.Hardsigmoid()(x))
    close(R.softmin, nn.Softmin(1)(x))
    close(R.softmin, nn.Softmin({dim = 1})(x))
    close(R.glu, nn.GLU()(x))
    close(R.glu1, nn.GLU(0)(x))
    assert.are.equal("Softplus(beta=2, threshold=5)", tostring(nn.Softplus(2, 5)))
    assert.are.equal("Hardtanh(min_val=-1, max_val=1)", tostring(nn.Hardtanh()))
    assert.are.equal("GLU(dim=-1)", tostring(nn.GLU()))
  end)

  it("PReLU: a learnable slope per channel, gradients as torch", function()
    local m = nn.PReLU(3)
    assert.are.same({0.25, 0.25, 0.25}, m.weight:totable())
    assert.is_true(m.weight.requires_grad)
    ks.no_grad(function() m.weight:copy_(ks.tensor({0.25, -0.1, 0.5})) end)
    local xr = x:clone():requires_grad_()
    local y = m(xr)
    close(R.prelu, y)
    local loss = (y * det({2, 3, 4}, 0.3)):sum()
    loss:backward()
    close(R.prelu_gx, xr.grad)
    close(R.prelu_gw, m.weight.grad)
    assert.are.same({3}, m:state_dict().weight:shape())
    -- one shared slope by default
    assert.is_true(ks.allclose(nn.PReLU()(x), F.prelu(x, ks.tensor({0.25}))))
    assert.is_true(ks.allclose(nn.PReLU({init = 0.1})(x), F.relu(x) + x:clamp(nil, 0) * 0.1))
  end)

  it("carry gradients (finite differences, away from the kinks)", function()
    local xs = det({2, 3, 4}, 0.7, 2.5):requires_grad_()
    for _, f in ipairs({F.hardswish, F.hardsigmoid, F.mish, F.logsigmoid, function(a) return F.softplus(a, {beta = 2}) end,
        function(a) return F.glu(a, 0) end, function(a) return F.softmin(a, 1) end}) do
      grad_check(f, {xs})
    end
    -- prelu away from its kink at 0 (det's first element is 0)
    grad_check(function(a, w) return F.prelu(a, w) end, {(det({2, 3, 4}, 0.7, 2.5) + 0.1):requires_grad_(),
      ks.tensor({0.25, -0.1, 0.5}):requires_grad_()})
  end)

  it("refuse bad options and inputs", function()
    assert.matches("Softplus: unknown option 'betta'.*did you mean 'beta'", err_of(nn.Softplus, {betta = 1}))
    assert.matches("Hardtanh: min_val %(2%) must be <= max_val %(1%)", err_of(nn.Hardtanh, 2, 1))
    assert.matches("Softmin: dim must be an integer, got nil", err_of(nn.Softmin))
    assert.matches("PReLU: num_parameters must be an integer >= 1, got 0", err_of(nn.PReLU, 0))
    assert.matches("ReLU6: too many positional arguments", err_of(nn.ReLU6, false, 1))
    assert.matches("prelu: weight of shape %[4%] needs 4 channels in dim 1 of the input, got shape %[2, 3, 4%]",
      err_of(nn.PReLU(4), x))
    assert.matches("hardswish: argument 'input' must be float32, got int64", err_of(F.hardswish, ks.arange(3)))
    local here = debug.getinfo(1, "S").short_src .. ":"
    assert.matches(here, err_of(function() local m = nn.Softplus({betta = 1}); return m end))
    assert.matches(here, err_of(function() local m = nn.Hardtanh(2, 1); return m end))
  end)
end)

describe("channel dropout", function()
  it("zeroes whole channels, scales the rest, and is the identity in eval()", function()
    ks.manual_seed(3)
    local x = ks.ones(8, 16, 3, 5)
    local m = nn.Dropout2d(0.25)
    local y = m(x)
    local per = y:reshape(8, 16, 15)
    -- every channel constant: all zero or all 1 / 0.75
    assert.is_true(ks.allclose(per:amax(2), per:amin(2)))
    local v = per[{":", ":", 0}]
    assert.is_true((v:eq(0) | (v - 1 / 0.75):abs():lt(1e-6)):all():item())
    local dropped = v:eq(0):sum():item()
    assert.is_true(dropped > 10 and dropped < 60, "dropped " .. dropped)
    m:eval()
    assert.is_true(m(x):equal(x))
    -- unbatched [C, H, W]; dropout1d over [N, C, L]
    assert.are.same({16, 3, 5}, F.dropout2d(x[0], 0.5):shape())
    local z = F.dropout1d(ks.ones(4, 32, 7), {p = 0.5}):reshape(4, 32, 7)
    assert.is_true(ks.allclose(z:amax(2), z:amin(2)))
    assert.is_true(F.dropout1d(ks.ones(4, 32, 7), 0.5, false):equal(ks.ones(4, 32, 7)))
    -- seeded: the same mask again
    ks.manual_seed(9)
    local a = F.dropout2d(x, 0.5)
    ks.manual_seed(9)
    assert.is_true(a:equal(F.dropout2d(x, 0.5)))
    -- the gradient is the mask
    local xr = ks.ones(2, 4, 3, 3):requires_grad_()
    local yr = nn.Dropout1d(0.5)(xr:reshape(2, 4, 9))
    yr:sum():backward()
    assert.is_true(xr.grad:reshape(2, 4, 9):equal(yr:detach()))
  end)

  it("refuses bad inputs", function()
    assert.matches("dropout2d: expected a 4%-D %[N, C, H, W%] or an unbatched 3%-D input, got shape %[2, 3%]",
      err_of(F.dropout2d, ks.ones(2, 3)))
    assert.matches("dropout1d: expected a 3%-D %[N, C, L%] or an unbatched 2%-D input, got shape %[2, 3, 4, 5%]",
      err_of(nn.Dropout1d(), ks.ones(2, 3, 4, 5)))
    assert.matches("dropout2d: p must be a number in %[0, 1%], got 1.5", err_of(F.dropout2d, ks.ones(1, 2, 3, 3), 1.5))
    assert.matches("Dropout2d: p must be in %[0, 1%], got %-0.1", err_of(nn.Dropout2d, -0.1))
    assert.matches("dropout2d: unknown option 'pp'", err_of(F.dropout2d, ks.ones(1, 2, 3, 3), {pp = 0.1}))
  end)
end)

describe("GroupNorm and InstanceNorm", function()
  it("match torch with affine parameters, and their gradients", function()
    local gn = fill(nn.GroupNorm(2, 4), 0.5)
    local xg = det({2, 4, 3}, 0.9, 2):requires_grad_()
    local y = gn(xg)
    close(R.groupnorm, y)
    local loss = (y * det({2, 4, 3}, 0.4)):sum()
    loss:backward()
    close(R.groupnorm_gx, xg.grad)
    close(R.groupnorm_gw, gn.weight.grad)
    close(R.instancenorm, fill(nn.InstanceNorm2d(3, {affine = true}), 0.6)(det({2, 3, 2, 3}, 1.1, 3)))
    close(R.instancenorm_unbatched, nn.InstanceNorm1d(3)(det({3, 5}, 0.8, 2)))
    assert.are.equal(0, #nn.InstanceNorm2d(3):parameters())
    assert.are.equal(2, #nn.GroupNorm(2, 4, 1e-5, true):parameters())
    assert.are.equal(0, #nn.GroupNorm(2, 4, {affine = false}):parameters())
    assert.are.equal("GroupNorm(2, 4, eps=1e-05, affine=true)", tostring(nn.GroupNorm(2, 4)))
    local xs = det({2, 4, 5}, 0.9, 2):requires_grad_()
    grad_check(function(a) return gn(a) end, {xs})
  end)

  it("refuse wrong channel counts and ranks, naming the shapes", function()
    assert.matches("GroupNorm: expected an input %[N, 4, %*%] %(num_channels=4%), got shape %[2, 3, 5%]",
      err_of(nn.GroupNorm(2, 4), ks.ones(2, 3, 5)))
    assert.matches("GroupNorm: num_channels %(5%) must be divisible by num_groups %(2%)", err_of(nn.GroupNorm, 2, 5))
    assert.matches("InstanceNorm2d: input of shape %[2, 5, 4, 4%] has 5 channels, expected num_features=3",
      err_of(nn.InstanceNorm2d(3), ks.ones(2, 5, 4, 4)))
    assert.matches("InstanceNorm2d: expected a 4D input %[N, C, H, W%] %(or unbatched 3D%), got shape %[2, 3%]",
      err_of(nn.InstanceNorm2d(3), ks.ones(2, 3)))
    assert.matches("InstanceNorm1d: track_running_stats=true is not supported",
      err_of(nn.InstanceNorm1d, 3, {track_running_stats = true}))
  end)
end)

describe("Conv1d and the 1-D pools", function()
  it("match torch: stride, padding, dilation and groups, with gradients", function()
    local cv = fill(nn.Conv1d(4, 6, 3, 2, 1, 2, 2), 0.7)
    assert.are.same({6, 2, 3}, cv.weight:shape())
    local xc = det({2, 4, 9}, 0.45, 1.5):requires_grad_()
    local y = cv(xc)
    assert.are.same(R.conv1d_shape, y:shape())
    close(R.conv1d, y)
    local loss = (y * det(y:shape(), 0.33)):sum()
    loss:backward()
    close(R.conv1d_gx, xc.grad)
    close(R.conv1d_gw, cv.weight.grad)
    close(R.conv1d_gb, cv.bias.grad)
    -- keyword form, F.conv1d, unbatched input
    local kw = nn.Conv1d(4, 6, 3, {stride = 2, padding = 1, dilation = 2, groups = 2})
    kw:load_state_dict(cv:state_dict())
    close(R.conv1d, kw(xc))
    close(R.conv1d, F.conv1d(xc, cv.weight, cv.bias, {stride = 2, padding = 1, dilation = 2, groups = 2}))
    local second = F.conv1d(xc[1], cv.weight, cv.bias, {stride = {2}, padding = 1, dilation = 2, groups = 2}) -- unbatched
    assert.are.same({6, 4}, second:shape())
    assert.is_true(ks.allclose(second, y[1], {atol = 1e-6}))
    assert.are.equal("Conv1d(4, 6, kernel_size=(3,), stride=(2,), padding=(1,), dilation=(2,), groups=2)", tostring(cv))
    grad_check(function(a, w, b) return F.conv1d(a, w, b, {stride = 2, padding = 1, dilation = 2, groups = 2}) end,
      {det({2, 4, 9}, 0.45, 1.5):requires_grad_(), cv.weight:detach():clone():requires_grad_(),
       cv.bias:detach():clone():requires_grad_()})
  end)

  it("pools match torch", function()
    local xp = det({2, 3, 10}, 0.8, 2)
    close(R.maxpool1d, nn.MaxPool1d(3, 2, 1)(xp))
    close(R.avgpool1d, nn.AvgPool1d(3, 2, 1, false, false)(xp))
    close(R.avgpool1d, F.avg_pool1d(xp, 3, {stride = 2, padding = 1, count_include_pad = false}))
    close(R.avgpool1d_ceil, nn.AvgPool1d(4, {stride = 3, ceil_mode = true})(xp))
    close(R.adaptive1d, nn.AdaptiveAvgPool1d(4)(xp))
    close(R.adaptive1d, F.adaptive_avg_pool1d(xp, {output_size = 4}))
    assert.are.same({3, 5}, F.max_pool1d(xp[0], 2):shape())
    local xs = det({2, 3, 10}, 0.8, 2):requires_grad_()
    grad_check(function(a) return F.avg_pool1d(a, 3, {stride = 2, padding = 1}) end, {xs})
    grad_check(function(a) return F.max_pool1d(a, 3, {stride = 2}) end, {xs})
    grad_check(function(a) return F.adaptive_avg_pool1d(a, 4) end, {xs})
  end)

  it("refuse bad inputs with both shapes", function()
    local x = ks.ones(2, 5, 8)
    assert.matches("conv1d: input of shape %[2, 5, 8%] with groups=1 does not match weight of shape %[4, 3, 3%] "
      .. "%(expected 3 input channels%)", err_of(nn.Conv1d(3, 4, 3), x))
    assert.matches("conv1d: expected a 3%-D input %[N, C, L%] %(or 2%-D %[C, L%]%) and a 3%-D weight %[Co, Ci/groups, k%], "
      .. "got %[2, 5, 8, 1%] and %[4, 5, 3%]", err_of(nn.Conv1d(5, 4, 3), ks.ones(2, 5, 8, 1)))
    assert.matches("conv1d: kernel 3 %(dilation 4%) is larger than the padded input length 8",
      err_of(F.conv1d, x, ks.ones(4, 5, 3), {dilation = 4}))
    assert.matches("conv1d: bias of shape %[3%] does not match 4 output channels", err_of(F.conv1d, x, ks.ones(4, 5, 3), ks.ones(3)))
    assert.matches("conv1d: stride must be an integer >= 1 %(or a list of one%), got {1, 2}",
      err_of(F.conv1d, x, ks.ones(4, 5, 3), {stride = {1, 2}}))
    assert.matches("Conv1d: unknown option 'paddin'.*did you mean 'padding'", err_of(nn.Conv1d, 3, 4, 3, {paddin = 1}))
    assert.matches("Conv1d: in_channels %(3%) and out_channels %(4%) must be divisible by groups %(2%)",
      err_of(nn.Conv1d, 3, 4, 3, {groups = 2}))
    assert.matches("max_pool1d: expected a 3%-D input %[N, C, L%] %(or 2%-D %[C, L%]%), got shape %[2, 5, 8, 1%]",
      err_of(nn.MaxPool1d(2), ks.ones(2, 5, 8, 1)))
    assert.matches("max_pool1d: padding 2 must be at most half of kernel_size 3", err_of(F.max_pool1d, x, 3, {padding = 2}))
    assert.matches("MaxPool1d: unknown option 'dilation'", err_of(nn.MaxPool1d, 3, 1, 0, 2))
    assert.matches("AdaptiveAvgPool1d: output_size must be an integer >= 1, got 0", err_of(nn.AdaptiveAvgPool1d, 0))
    local here = debug.getinfo(1, "S").short_src .. ":"
    assert.matches(here, err_of(function() local r = F.conv1d(x, ks.ones(4, 3, 3)); return r end))
    assert.matches(here, err_of(function() local m = nn.Conv1d(3, 4, 3, {paddin = 1}); return m end))
  end)
end)

describe("ConvTranspose2d", function()
  it("matches torch with every option, with gradients for input, weight and bias", function()
    local ct = fill(nn.ConvTranspose2d(4, 6, {3, 2}, {2, 1}, {1, 0}, {1, 0}, 2, true, {1, 2}), 0.8)
    assert.are.same({4, 3, 3, 2}, ct.weight:shape()) -- PyTorch's [in, out / groups, kh, kw]
    local xt = det({2, 4, 3, 4}, 0.55, 1.5):requires_grad_()
    local y = ct(xt)
    assert.are.same(R.convt_shape, y:shape())
    close(R.convt, y)
    local loss = (y * det(y:shape(), 0.21)):sum()
    loss:backward()
    close(R.convt_gx, xt.grad, 2e-5)
    close(R.convt_gw, ct.weight.grad, 2e-5)
    close(R.convt_gb, ct.bias.grad, 2e-5)
    assert.are.equal("ConvTranspose2d(4, 6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), output_padding=(1, 0), "
      .. "dilation=(1, 2), groups=2)", tostring(ct))
    -- a list is a positional value, never the options table (nn.options.positional): a lone stride pair
    assert.are.same({2, 1}, nn.ConvTranspose2d(4, 6, 3, {2, 1}).stride)
    -- output_padding >= stride (below dilation), no bias; keyword form
    local ct2 = fill(nn.ConvTranspose2d(2, 3, 3, {stride = 1, padding = 1, output_padding = 1, dilation = 2, bias = false}), 0.9)
    local y2 = ct2(det({1, 2, 3, 3}, 0.65))
    assert.are.same(R.convt2_shape, y2:shape())
    close(R.convt2, y2)
    -- unbatched input, and forward's output_size
    close(R.convt2, ct2(det({2, 3, 3}, 0.65)))
    assert.are.same({1, 3, 5, 5}, ct2(det({1, 2, 3, 3}, 0.65), {5, 5}):shape())
    close(R.convt2, ct2(det({1, 2, 3, 3}, 0.65), {1, 3, 6, 6}))
  end)

  it("is the adjoint of conv2d and carries gradients (finite differences)", function()
    local w = det({4, 3, 3, 3}, 0.31)
    local x = det({2, 4, 5, 5}, 0.47)
    local opts = {stride = 2, padding = 1, output_padding = 1}
    local y = F.conv_transpose2d(x, w, nil, opts)
    local c = det(y:shape(), 0.13)
    -- <conv_transpose2d(x), c> = <x, conv2d(c)> with the same weight
    local lhs = (y * c):sum():item()
    local rhs = (x * F.conv2d(c, w, {stride = 2, padding = 1})):sum():item()
    assert.is_true(math.abs(lhs - rhs) < 1e-3, lhs .. " vs " .. rhs)
    grad_check(function(a, ww, b) return F.conv_transpose2d(a, ww, b, {stride = {2, 1}, padding = 1, output_padding = {1, 0},
      groups = 2, dilation = {1, 2}}) end,
      {det({2, 4, 3, 4}, 0.55):requires_grad_(), det({4, 2, 2, 3}, 0.7):requires_grad_(), det({4}, 0.9):requires_grad_()})
    grad_check(function(a) return F.conv_transpose2d(a, det({2, 3, 3, 3}, 0.7), nil, {padding = 1, output_padding = 1,
      dilation = 2}) end, {det({1, 2, 3, 3}, 0.65):requires_grad_()})
  end)

  it("refuses bad inputs with both shapes", function()
    local m = nn.ConvTranspose2d(3, 4, 3)
    assert.matches("conv_transpose2d: input of shape %[2, 5, 8, 8%] does not match weight of shape %[3, 4, 3, 3%] with "
      .. "groups=1 %(expected 3 input channels%)", err_of(m, ks.ones(2, 5, 8, 8)))
    assert.matches("conv_transpose2d: expected a 4%-D input %[N, C, H, W%] %(or 3%-D %[C, H, W%]%) and a 4%-D weight "
      .. "%[Ci, Co/groups, kh, kw%], got %[3, 8%] and %[3, 4, 3, 3%]", err_of(m, ks.ones(3, 8)))
    assert.matches("ConvTranspose2d: output_padding %(2, 2%) must be smaller than either stride %(2, 2%) or dilation %(1, 1%)",
      err_of(nn.ConvTranspose2d, 3, 4, 3, {stride = 2, output_padding = 2}))
    assert.matches("conv_transpose2d: input of shape %[1, 3, 1, 1%] with kernel {3, 3}, stride {1, 1}, padding {2, 2} gives "
      .. "an empty output %-1 x %-1", err_of(F.conv_transpose2d, ks.ones(1, 3, 1, 1), ks.ones(3, 4, 3, 3), {padding = 2}))
    assert.matches("ConvTranspose2d: requested output_size {9, 9} for input of shape %[1, 3, 4, 4%], but valid sizes are "
      .. "from 6 to 6 in dim 0", err_of(m, ks.ones(1, 3, 4, 4), {9, 9}))
    assert.matches("conv_transpose2d: bias of shape %[3%] does not match 4 output channels",
      err_of(F.conv_transpose2d, ks.ones(1, 3, 4, 4), ks.ones(3, 4, 3, 3), ks.ones(3)))
    assert.matches("conv_transpose2d: unknown option 'outpt_padding'", err_of(F.conv_transpose2d, ks.ones(1, 3, 4, 4),
      ks.ones(3, 4, 3, 3), {outpt_padding = 1}))
  end)
end)

describe("LSTM and GRU", function()
  it("LSTM: torch's parameter names and numbers (2 layers, bidirectional, batch_first, given state)", function()
    local lstm = fill(nn.LSTM(3, 4, {num_layers = 2, batch_first = true, bidirectional = true}), 0.3)
    local names = {}
    for n in lstm:named_parameters() do names[#names + 1] = n end
    assert.are.equal(R.lstm_names, table.concat(names, " "))
    assert.are.same({16, 8}, lstm.weight_ih_l1:shape()) -- layer 1 reads both directions of layer 0
    local xl = det({2, 5, 3}, 0.37, 1.2):requires_grad_()
    local out, state = lstm(xl, {det({4, 2, 4}, 0.23, 0.5), det({4, 2, 4}, 0.29, 0.5)})
    assert.are.same({2, 5, 8}, out:shape())
    close(R.lstm_out, out)
    close(R.lstm_hn, state[1])
    close(R.lstm_cn, state[2])
    local loss = (out * det(out:shape(), 0.17)):sum()
    loss:backward()
    close(R.lstm_gx, xl.grad)
    close(R.lstm_gw, lstm.weight_hh_l1_reverse.grad)
    assert.are.equal("LSTM(3, 4, num_layers=2, batch_first=true, bidirectional=true)", tostring(lstm))
  end)

  it("GRU: torch's numbers, unbatched input, state fed back", function()
    local gru = fill(nn.GRU(3, 4, 2, true, false, 0, true), 0.4)
    local xq = det({5, 2, 3}, 0.41, 1.2):requires_grad_()
    local out, hn = gru(xq, det({4, 2, 4}, 0.27, 0.5))
    close(R.gru_out, out)
    close(R.gru_hn, hn)
    local loss = (out * det(out:shape(), 0.19)):sum()
    loss:backward()
    close(R.gru_gx, xq.grad)
    close(R.gru_gw, gru.weight_hh_l0.grad)
    local g1 = fill(nn.GRU(3, 2), 0.6)
    local o1, h1 = g1(det({4, 3}, 0.5))
    close(R.gru_unbatched, o1)
    close(R.gru_unbatched_hn, h1)
    -- running the sequence in two halves with the state fed back gives the same output
    local a, ha = g1(det({4, 3}, 0.5):narrow(0, 0, 2))
    local b = g1(det({4, 3}, 0.5):narrow(0, 2, 2), ha)
    close(R.gru_unbatched, ks.cat({a, b}, 0))
  end)

  it("carry gradients (finite differences) and default to torch's initialisation", function()
    local lstm = nn.LSTM(3, 4, {bidirectional = true})
    local bound = 1 / math.sqrt(4)
    for _, p in ipairs(lstm:parameters()) do assert.is_true(p:abs():max():item() <= bound) end
    local x = det({3, 2, 3}, 0.37, 1.2):requires_grad_()
    grad_check(function(a) return lstm(a) end, {x})
    local gru = nn.GRU(3, 4, {num_layers = 2})
    grad_check(function(a) local o, h = gru(a); return o + h[1] end, {x})
  end)

  it("refuse bad inputs and states with the shapes", function()
    local lstm = nn.LSTM(3, 4)
    assert.matches("LSTM: input of shape %[5, 2, 6%] has 6 features in its last dim, expected input_size=3",
      err_of(lstm, ks.ones(5, 2, 6)))
    assert.matches("LSTM: expected a 3%-D input %[T, N, input_size%] %(or unbatched 2%-D %[T, input_size%]%), got shape %[5%]",
      err_of(lstm, ks.ones(5)))
    assert.matches("LSTM: expected h0 of shape %[1, 2, 4%], got %[2, 2, 4%]", err_of(lstm, ks.ones(5, 2, 3),
      {ks.zeros(2, 2, 4), ks.zeros(1, 2, 4)}))
    assert.matches("LSTM: the state must be a list {h0, c0} of two tensors", err_of(lstm, ks.ones(5, 2, 3), ks.zeros(1, 2, 4)))
    assert.matches("GRU: the state must be a tensor h0, got table", err_of(nn.GRU(3, 4), ks.ones(5, 2, 3), {ks.zeros(1, 2, 4)}))
    assert.matches("GRU: unknown option 'proj_size'", err_of(nn.GRU, 3, 4, {proj_size = 2}))
    assert.matches("LSTM: num_layers must be a positive integer, got 0", err_of(nn.LSTM, 3, 4, 0))
    assert.matches("LSTM%(input_size, hidden_size%): two positive integers expected", err_of(nn.LSTM, 3))
  end)
end)

describe("help and nn", function()
  it("help finds every new name", function()
    for _, n in ipairs({"Softplus", "Hardtanh", "ReLU6", "Mish", "LogSigmoid", "Hardswish", "Hardsigmoid", "Softmin", "GLU",
        "PReLU", "Dropout1d", "Dropout2d", "GroupNorm", "InstanceNorm1d", "InstanceNorm2d", "Conv1d", "MaxPool1d",
        "AvgPool1d", "AdaptiveAvgPool1d", "ConvTranspose2d", "LSTM", "GRU"}) do
      local text = help.text("nn." .. n)
      assert.truthy(text and text:find(n .. "%("), "help nn." .. n .. ": " .. tostring(text))
      assert.is_not_nil(nn[n], n)
    end
    for _, n in ipairs({"prelu", "hardswish", "hardsigmoid", "dropout1d", "dropout2d", "conv1d", "max_pool1d", "avg_pool1d",
        "adaptive_avg_pool1d", "conv_transpose2d"}) do
      local text = help.text("F." .. n)
      assert.truthy(text and text:find("F%." .. n .. "%("), "help F." .. n .. ": " .. tostring(text))
    end
  end)
end)
