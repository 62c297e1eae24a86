# tests/soak/plot.gp - the soak curve as a PNG, from a CSV of tests/soak/soak.sh:
#   gnuplot -e "csv='build/soak/x.csv'; out='docs/robustness.png'" tests/soak/plot.gp
# (gnuplot is optional: apt-get install gnuplot-nox). Top: requests/s and
# p50/p99 latency per interval; bottom: the server's RSS and open fds.
set datafile separator ','
set terminal pngcairo size 900,620 font 'DejaVu Sans,9'
set output out
set multiplot layout 2,1
set key top left horizontal
set grid
set xlabel 'minute'
set ylabel 'requests/s'
set y2label 'latency ms'
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
plot csv using 2:4 skip 1 with lines lw 2 title 'req/s', \
     csv using 2:6 skip 1 axes x1y2 with lines lw 2 title 'p99 ms', \
     csv using 2:5 skip 1 axes x1y2 with lines lw 1 title 'p50 ms'
set ylabel 'RSS MB'
set y2label 'open fds'
stats csv using 10 skip 1 nooutput name 'R'
stats csv using 11 skip 1 nooutput name 'F'
set yrange [0:R_max / 1024 * 1.4 + 1]
set y2range [0:F_max * 1.4 + 1]
plot csv using 2:($10/1024) skip 1 with lines lw 2 title 'RSS MB', \
     csv using 2:11 skip 1 axes x1y2 with lines lw 2 title 'open fds'
unset multiplot
