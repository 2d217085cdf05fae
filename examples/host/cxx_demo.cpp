// cxx_demo.cpp — a C++ program whose new/delete (plain, array, aligned, sized) reach liballoc through malloc.
// SPDX-License-Identifier: MIT
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

struct alignas(64) Line {
	std::uint64_t v[8];
};

int main()
{
	std::map<std::string, std::vector<int>> index;
	std::unordered_map<int, std::shared_ptr<std::string>> cache;
	std::vector<std::unique_ptr<Line>> lines;
	std::uint64_t sum = 0;
	for (int i = 0; i < 200000; i++) {
		std::string key = "k" + std::to_string(i % 5000) + std::string(i % 40, 'x');
		index[key].push_back(i);
		cache[i % 20000] = std::make_shared<std::string>(key + key);
		if (i % 10 == 0) {
			auto l = std::make_unique<Line>();  // over-aligned new
			if (reinterpret_cast<std::uintptr_t>(l.get()) % 64)
				return 1;
			l->v[0] = static_cast<std::uint64_t>(i);
			lines.push_back(std::move(l));
		}
		if (i % 1000 == 999)
			lines.erase(lines.begin(), lines.begin() + static_cast<long>(lines.size() / 2));
	}
	for (auto &kv : index)
		sum += kv.second.size() * kv.first.size();
	for (auto &l : lines)
		sum += l->v[0];
	std::vector<std::string> sorted;
	for (auto &kv : cache)
		sorted.push_back(*kv.second);
	std::sort(sorted.begin(), sorted.end());
	std::printf("%zu %zu %zu %llu %s\n", index.size(), cache.size(), lines.size(),
		    static_cast<unsigned long long>(sum), sorted.front().c_str());
	return 0;
}
