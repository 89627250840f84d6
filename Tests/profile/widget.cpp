// A hot C++ member function whose demangled name holds spaces: geometry::Widget::spin(long, double).
#include <cstdlib>
#include <ctime>

namespace geometry {
struct Widget {
    __attribute__((noinline)) static double spin(long n, double seed) {
        volatile double x = seed;
        for (long i = 0; i < n; i++) x = x * 1.0000001 + 0.5;
        return x;
    }
};
}

int main(int argc, char **argv) {
    double seconds = argc > 1 ? std::atof(argv[1]) : 2;
    std::time_t end = std::time(nullptr) + (std::time_t)seconds;
    double sum = 0;
    while (std::time(nullptr) < end) sum += geometry::Widget::spin(1000000, sum);
    return sum == 42 ? 1 : 0;
}
