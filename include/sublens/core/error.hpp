// Error conventions.
//
// - Bad arguments to an algorithm throw std::invalid_argument with the constraint spelled out.
// - Bad input files throw sublens::InputError (an std::invalid_argument), whose message is one line
//   naming the file, the field and the constraint: "a.npy: header 'shape': must be a tuple of ints".
// The CLI maps std::invalid_argument (and CLI usage errors) to exit code 2, anything else to 1.
#pragma once

#include <stdexcept>
#include <string>

namespace sublens {

class InputError : public std::invalid_argument {
 public:
  InputError(const std::string& file, const std::string& field, const std::string& constraint)
      : std::invalid_argument(file + ": " + field + ": " + constraint),
        file_(file),
        field_(field) {}
  const std::string& file() const { return file_; }
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

}  // namespace sublens
