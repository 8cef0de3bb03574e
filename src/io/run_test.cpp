// Tests of run folders (sublens/io/run.hpp): a valid folder is read back field by field, and each
// way a folder can be broken is refused with one line naming the file and the field. Fixtures are
// written with io's array writers (tested against numpy in io_test); run.json is written as text.
#include "sublens/io/run.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <set>

#include "sublens/core/error.hpp"
#include "sublens/io/io.hpp"

namespace sublens::io {
namespace {

namespace fs = std::filesystem;

constexpr int kN = 6;
constexpr int kClasses = 3;

class RunTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("sublens_run_test_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_valid();
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path path(const std::string& name) const { return dir_ / name; }

  static NdArray floats(std::vector<std::int64_t> shape, float offset) {
    std::int64_t count = 1;
    for (const auto dim : shape) count *= dim;
    std::vector<float> values(static_cast<std::size_t>(count));
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = offset + 0.25F * float(i);
    return NdArray::from_float(std::move(shape), values.data());
  }
  static NdArray ints(const std::vector<std::int64_t>& values) {
    return NdArray::from_int64({static_cast<std::int64_t>(values.size())}, values.data());
  }

  // Layers a (shape [2, 2]) and b (shape [3]); epochs 0 and 3; labels 0 1 2 0 1 2.
  void write_epoch(int epoch, const std::vector<std::int64_t>& predictions) const {
    const std::string stem = epoch == 0 ? "epoch-0000" : "epoch-0003";
    write_safetensors(path(stem + ".safetensors"),
                      {{"a", floats({kN, 2, 2}, float(epoch))}, {"b", floats({kN, 3}, -1)}});
    write_npy(path(stem + ".predictions.npy"), ints(predictions));
    write_npy(path(stem + ".softmax.npy"), floats({kN, kClasses}, 0));
  }
  void write_valid() {
    write_npy(path("labels.npy"), ints({0, 1, 2, 0, 1, 2}));
    write_npy(path("inputs.npy"), floats({kN, 1, 2, 2}, 0));
    write_epoch(0, {0, 0, 0, 0, 0, 0});  // accuracy 2/6
    write_epoch(3, {0, 1, 2, 0, 1, 1});  // accuracy 5/6
    json_ = nlohmann::json::parse(R"({
      "format": "sublens-run", "version": 1, "n_inputs": 6, "n_classes": 3,
      "class_names": ["x", "y", "z"],
      "layers": [{"name": "a", "shape": [2, 2]}, {"name": "b", "shape": [3]}],
      "inputs": {"shape": [1, 2, 2]},
      "epochs": [{"epoch": 0, "accuracy": 0.3333333333333333},
                 {"epoch": 3, "accuracy": 0.8333333333333334}],
      "metadata": {"source": "pytorch-recorder", "parameters": 12}})");
    write_json();
  }
  void write_json() const { std::ofstream(path("run.json")) << json_.dump(); }

  // The message of the InputError that reading the folder throws ("" if none).
  std::string error(bool check_values = false) const { return read_run_error(dir_, check_values); }
  static std::string read_run_error(const fs::path& dir, bool check_values = false) {
    try {
      read_run(dir, check_values);
    } catch (const InputError& e) {
      return e.what();
    }
    return "";
  }
  // The message after changing run.json with `change`.
  template <typename Change>
  std::string json_error(Change change) {
    change(json_);
    write_json();
    return error();
  }

  fs::path dir_;
  nlohmann::json json_;
};

TEST_F(RunTest, ReadsAValidFolderFieldByField) {
  const RunFolder run = read_run(dir_, true);
  EXPECT_EQ(run.dir, dir_);
  EXPECT_EQ(run.version, 1);
  EXPECT_EQ(run.n_inputs, kN);
  EXPECT_EQ(run.n_classes, kClasses);
  EXPECT_EQ(run.class_names, (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_EQ(run.class_name(1), "y");
  EXPECT_EQ(run.class_name(3), "3");  // out of range: the number
  ASSERT_EQ(run.layers.size(), 2U);
  EXPECT_EQ(run.layers[0].name, "a");
  EXPECT_EQ(run.layers[0].shape, (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(run.layers[0].d(), 4);
  EXPECT_EQ(run.layers[1].name, "b");
  ASSERT_TRUE(run.input_shape.has_value());
  EXPECT_EQ(*run.input_shape, (std::vector<std::int64_t>{1, 2, 2}));
  ASSERT_EQ(run.epochs.size(), 2U);
  EXPECT_EQ(run.epochs[1].epoch, 3);
  EXPECT_DOUBLE_EQ(run.epochs[1].accuracy, 5.0 / 6.0);
  EXPECT_EQ(run.metadata["source"], "pytorch-recorder");
  EXPECT_EQ(run.epoch_file(3, ".softmax.npy"), dir_ / "epoch-0003.softmax.npy");
  EXPECT_EQ(run.labels_file(), dir_ / "labels.npy");
  EXPECT_EQ(run.inputs_file(), dir_ / "inputs.npy");
  EXPECT_EQ(run_epoch_file_name(12345, ".safetensors"), "epoch-12345.safetensors");
  EXPECT_TRUE(run.has_epoch(0));
  EXPECT_FALSE(run.has_epoch(1));
  EXPECT_EQ(run.find_layer("b"), &run.layers[1]);
  EXPECT_EQ(run.find_layer("c"), nullptr);
  EXPECT_TRUE(is_run_folder(dir_));
  EXPECT_FALSE(is_run_folder(path("labels.npy")));
}

TEST_F(RunTest, OptionalFieldsMayBeAbsent) {
  json_.erase("class_names");
  json_.erase("metadata");
  json_["inputs"] = nullptr;
  json_["epochs"] = nlohmann::json::array();
  write_json();
  fs::remove(path("inputs.npy"));
  const RunFolder run = read_run(dir_, true);
  EXPECT_TRUE(run.class_names.empty());
  EXPECT_EQ(run.class_name(2), "2");
  EXPECT_FALSE(run.input_shape.has_value());
  EXPECT_TRUE(run.epochs.empty());
  EXPECT_TRUE(run.metadata.is_object());
}

TEST_F(RunTest, WriteRunJsonRoundTripsAtomicallyAndRefusesInvalidRuns) {
  RunFolder run = read_run(dir_);
  run.epochs.push_back({7, 0.5});
  run.metadata["seed"] = 3;
  fs::remove(path("run.json"));
  write_run_json(run);
  const auto back = parse_run_json(run_json_text(run), dir_, "x");
  EXPECT_EQ(back.epochs.size(), 3U);
  EXPECT_EQ(back.epochs[2].epoch, 7);
  EXPECT_EQ(back.metadata["seed"], 3);
  std::ifstream in(path("run.json"));
  const auto written = nlohmann::json::parse(in);
  EXPECT_EQ(written["format"], "sublens-run");
  EXPECT_EQ(written["layers"][1]["shape"], nlohmann::json::parse("[3]"));
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << entry.path();
  }
  run.layers.push_back(run.layers[0]);  // duplicate name
  EXPECT_THROW(write_run_json(run), std::invalid_argument);
  std::ifstream again(path("run.json"));
  EXPECT_EQ(nlohmann::json::parse(again)["layers"].size(), 2U);  // unchanged
}

TEST_F(RunTest, RefusesAMissingEpochFile) {
  for (const std::string suffix : {".safetensors", ".predictions.npy", ".softmax.npy"}) {
    SetUp();
    fs::remove(path("epoch-0003" + suffix));
    const std::string message = error();
    EXPECT_NE(message.find("epoch-0003" + suffix + ": file: does not exist"), std::string::npos)
        << message;
    EXPECT_NE(message.find("epochs[1]"), std::string::npos) << message;
  }
}

TEST_F(RunTest, IgnoresFilesOfAnUnlistedEpoch) {
  json_["epochs"].erase(1);
  write_json();
  fs::remove(path("epoch-0003.softmax.npy"));  // a half-written epoch 3
  EXPECT_EQ(error(true), "");
}

TEST_F(RunTest, RefusesALayerMissingInOneEpoch) {
  write_safetensors(path("epoch-0003.safetensors"), {{"a", floats({kN, 2, 2}, 0)}});
  EXPECT_EQ(error(), path("epoch-0003.safetensors").string() +
                         ": tensor 'b': missing (layer listed in " + path("run.json").string() +
                         " layers)");
}

TEST_F(RunTest, RefusesNMismatches) {
  write_npy(path("labels.npy"), ints({0, 1, 2, 0, 1}));
  EXPECT_NE(error().find("labels.npy: shape: shape (5,) but "), std::string::npos) << error();
  SetUp();
  write_safetensors(path("epoch-0000.safetensors"),
                    {{"a", floats({kN + 1, 2, 2}, 0)}, {"b", floats({kN, 3}, 0)}});
  EXPECT_NE(error().find("epoch-0000.safetensors: tensor 'a': shape (7, 2, 2) but"),
            std::string::npos)
      << error();
  SetUp();
  write_npy(path("epoch-0003.predictions.npy"), ints({0, 1}));
  EXPECT_NE(error().find("epoch-0003.predictions.npy: shape"), std::string::npos) << error();
  SetUp();
  write_npy(path("inputs.npy"), floats({kN - 1, 1, 2, 2}, 0));
  EXPECT_NE(error().find("inputs.npy: shape"), std::string::npos) << error();
}

TEST_F(RunTest, RefusesAShapeOtherThanTheLayersShape) {
  write_safetensors(path("epoch-0003.safetensors"),
                    {{"a", floats({kN, 4}, 0)}, {"b", floats({kN, 3}, 0)}});
  EXPECT_NE(error().find("tensor 'a': shape (6, 4) but"), std::string::npos) << error();
  SetUp();
  write_npy(path("epoch-0000.softmax.npy"), floats({kN, kClasses + 1}, 0));
  EXPECT_NE(error().find("epoch-0000.softmax.npy: shape: shape (6, 4)"), std::string::npos)
      << error();
  SetUp();
  write_npy(path("inputs.npy"), floats({kN, 4}, 0));
  EXPECT_NE(error().find("inputs.npy: shape: shape (6, 4)"), std::string::npos) << error();
}

TEST_F(RunTest, RefusesWrongDtypes) {
  std::vector<double> values(kN * 4, 0.5);  // enough for every shape below (N x 2 x 2)
  write_npy(path("epoch-0000.softmax.npy"), NdArray::from_double({kN, 3}, values.data()));
  EXPECT_NE(error().find("epoch-0000.softmax.npy: dtype: '<f8' must be"), std::string::npos)
      << error();
  SetUp();
  write_npy(path("labels.npy"), NdArray::from_double({kN}, values.data()));
  EXPECT_NE(error().find("labels.npy: dtype"), std::string::npos) << error();
  SetUp();
  write_safetensors(
      path("epoch-0000.safetensors"),
      {{"a", NdArray::from_double({kN, 2, 2}, values.data())}, {"b", floats({kN, 3}, 0)}});
  EXPECT_NE(error().find("tensor 'a': dtype float64 must be float32"), std::string::npos)
      << error();
}

TEST_F(RunTest, RefusesNonFiniteValuesOnlyWhenCheckingValues) {
  NdArray b = floats({kN, 3}, 0);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(b.bytes.data() + (4 * 3 + 1) * sizeof(float), &nan, sizeof nan);  // input 4
  write_safetensors(path("epoch-0003.safetensors"), {{"a", floats({kN, 2, 2}, 0)}, {"b", b}});
  EXPECT_EQ(error(false), "");
  EXPECT_EQ(error(true), path("epoch-0003.safetensors").string() +
                             ": tensor 'b': value of input 4 is not finite (NaN or Inf)");
  SetUp();
  NdArray softmax = floats({kN, kClasses}, 0);
  const float inf = std::numeric_limits<float>::infinity();
  std::memcpy(softmax.bytes.data(), &inf, sizeof inf);
  write_npy(path("epoch-0000.softmax.npy"), softmax);
  EXPECT_NE(error(true).find("epoch-0000.softmax.npy: data: value of input 0 is not finite"),
            std::string::npos)
      << error(true);
}

TEST_F(RunTest, RefusesClassesOutOfRangeWhenCheckingValues) {
  write_npy(path("labels.npy"), ints({0, 1, 3, 0, 1, 2}));
  EXPECT_EQ(error(false), "");
  EXPECT_NE(error(true).find("labels.npy: value of input 2: 3 is outside 0 .. n_classes-1"),
            std::string::npos)
      << error(true);
  SetUp();
  write_npy(path("epoch-0003.predictions.npy"), ints({0, 1, 2, 0, 1, -1}));
  EXPECT_NE(error(true).find("epoch-0003.predictions.npy: value of input 5: -1"), std::string::npos)
      << error(true);
}

TEST_F(RunTest, RefusesAnAccuracyThatThePredictionsDoNotGive) {
  json_["epochs"][1]["accuracy"] = 0.5;
  write_json();
  EXPECT_EQ(error(false), "");
  EXPECT_NE(error(true).find("run.json: epochs[1].accuracy: 0.5 but the predictions match the "
                             "labels on 0.833333"),
            std::string::npos)
      << error(true);
}

TEST_F(RunTest, RefusesAnotherFormatOrVersion) {
  const std::string json = path("run.json").string();
  EXPECT_EQ(json_error([](auto& j) { j["format"] = "other-run"; }),
            json + ": format: must be \"sublens-run\" (got \"other-run\")");
  SetUp();
  EXPECT_EQ(json_error([](auto& j) { j["version"] = 2; }),
            json + ": version: unsupported version 2 (this sublens reads 1)");
  SetUp();
  EXPECT_EQ(json_error([](auto& j) { j.erase("format"); }), json + ": format: missing");
  SetUp();
  std::ofstream(path("run.json")) << "{\"format\": ";
  EXPECT_NE(error().find(json + ": json: invalid JSON"), std::string::npos) << error();
  SetUp();
  std::ofstream(path("run.json")) << "[1, 2]";
  EXPECT_EQ(error(), json + ": json: must be a JSON object");
}

TEST_F(RunTest, RefusesFieldsOfTheWrongTypeOrRange) {
  const std::string json = path("run.json").string() + ": ";
  struct Case {
    std::string pointer;
    nlohmann::json value;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"/n_inputs", "6", "n_inputs: must be an integer"},
      {"/n_inputs", 0, "n_inputs: must be at least 1"},
      {"/n_classes", 2.5, "n_classes: must be an integer"},
      {"/class_names", {"x"}, "class_names: must be a list of n_classes (3) strings"},
      {"/class_names/1", 4, "class_names[1]: must be a string"},
      {"/class_names/1", "", "class_names[1]: must be a non-empty string"},
      {"/class_names/2", "x", "class_names[2]: 'x' is listed twice (class names must be unique)"},
      {"/layers", nlohmann::json::array(), "layers: must be a non-empty list"},
      {"/layers/1/name", "a", "layers[1].name: 'a' is listed twice"},
      {"/layers/0/name", "", "layers[0].name: must be a non-empty name other than __metadata__"},
      {"/layers/0/shape", nlohmann::json::array(), "layers[0].shape: must be a non-empty list"},
      {"/layers/0/shape/1", 0, "layers[0].shape[1]: must be at least 1"},
      {"/layers/0", "a", "layers[0]: must be an object with name and shape"},
      {"/inputs", nlohmann::json::array({1, 2}), "inputs: must be an object"},
      {"/epochs/0/epoch", -1, "epochs[0].epoch: must be at least 0"},
      {"/epochs/1/epoch", 0, "epochs[1].epoch: 0 must be greater than 0 (epochs strictly"},
      {"/epochs/0/accuracy", 1.5, "epochs[0].accuracy: must be in [0, 1]"},
      {"/epochs/0/accuracy", "high", "epochs[0].accuracy: must be a number"},
      {"/epochs", nlohmann::json::object(), "epochs: must be a list"},
      {"/metadata", "text", "metadata: must be an object"},
  };
  for (const Case& c : cases) {
    SetUp();
    const std::string message =
        json_error([&](auto& j) { j[nlohmann::json::json_pointer(c.pointer)] = c.value; });
    EXPECT_EQ(message.rfind(json + c.message, 0), 0U) << c.pointer << " -> " << message;
  }
  SetUp();
  EXPECT_EQ(json_error([](auto& j) { j["layers"][0].erase("shape"); }),
            json + "layers[0].shape: missing");
}

TEST_F(RunTest, RefusesMissingRequiredFilesAndFolders) {
  fs::remove(path("labels.npy"));
  EXPECT_NE(error().find("labels.npy: file: does not exist"), std::string::npos) << error();
  SetUp();
  fs::remove(path("inputs.npy"));
  EXPECT_NE(error().find("inputs.npy: file: does not exist (listed by"), std::string::npos)
      << error();
  SetUp();
  fs::remove(path("run.json"));
  EXPECT_EQ(error(), path("run.json").string() + ": file: does not exist");
  EXPECT_EQ(read_run_error(path("none")), path("none").string() + ": run folder: does not exist");
  EXPECT_EQ(read_run_error(path("labels.npy")),
            path("labels.npy").string() + ": run folder: is not a folder");
}

TEST(DatasetClassNames, KnownDatasetsHaveOneDistinctNamePerClass) {
  const std::pair<const char*, std::size_t> known[] = {
      {"fashion-mnist", 10}, {"mnist", 10}, {"cifar10", 10}, {"cifar100", 100}};
  for (const auto& [name, count] : known) {
    const std::vector<std::string> names = dataset_class_names(name);
    EXPECT_EQ(names.size(), count) << name;
    EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), count) << name;
  }
  EXPECT_EQ(dataset_class_names("fashion-mnist")[9], "Ankle boot");
  EXPECT_EQ(dataset_class_names("cifar10")[0], "airplane");
  EXPECT_EQ(dataset_class_names("cifar100")[99], "worm");
  EXPECT_TRUE(dataset_class_names("npy").empty());
}

}  // namespace
}  // namespace sublens::io
