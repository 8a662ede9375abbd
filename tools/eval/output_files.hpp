// unitsface-eval: writing the output files all or nothing. Each file is written to a temporary
// name beside it first; only when every one is written are they renamed into place, so a full
// disk or a bad path leaves no partial report behind (and no old report half overwritten).
#pragma once

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace unitsface::eval {

struct output_file {
  std::string path;
  std::string content;
};

class output_error : public std::runtime_error {
 public:
  explicit output_error(const std::string& what) : std::runtime_error(what) {}
};

inline void write_all(const std::vector<output_file>& files) {
  std::vector<std::string> written;
  auto discard = [&] {
    for (const auto& t : written) std::remove(t.c_str());
  };
  for (const auto& f : files) {
    const std::string tmp = f.path + ".tmp-unitsface-eval";
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (out) written.push_back(tmp);
    out << f.content;
    out.close();
    if (!out) {
      discard();
      throw output_error("cannot write " + f.path);
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (std::rename(written[i].c_str(), files[i].path.c_str()) != 0) {
      discard();
      throw output_error("cannot write " + files[i].path + " (rename failed)");
    }
  }
}

}  // namespace unitsface::eval
