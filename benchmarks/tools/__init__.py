"""What the benchmarks and their tests share: trace and roofline breakdowns (profile_breakdown),
compiling for a GPU without one (gpu_target, kernel_ptx), the goals' report (gpu_goals), random
packings (packings), and card_site/, a sitecustomize that makes Python look like the GPU machine's.
"""
