package vit22b.backend.cuda;

import static org.junit.platform.engine.discovery.DiscoverySelectors.selectClass;
import static org.junit.platform.engine.discovery.DiscoverySelectors.selectPackage;

import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.List;

import org.junit.platform.engine.discovery.ClassNameFilter;
import org.junit.platform.launcher.Launcher;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;
import org.junit.platform.launcher.listeners.SummaryGeneratingListener;

/**
 * Runs this package's tests and the mesh's NCCL test on a GPU host without Maven
 * (bench/gpu/run-all.sh); arguments, if any, are test classes to run instead: a simple name
 * is of this package (e.g. CudaOpsTest), a dotted one fully qualified (vit22b.mesh.nccl.NcclMultiProcessTest);
 * an argument starting with '!' leaves that class out of the default set instead
 * (run-all.sh runs the op and step tests first, then "!CudaOpsTest !CudaStepTest"). Exit status 1
 * on any failure, 2 when tests were skipped (on a GPU host, a skip means the GPU path is
 * broken, not absent).
 */
public final class GpuTestMain {
    /** Outside this package, so not found by the package selector. */
    private static final String NCCL_TEST = "vit22b.mesh.nccl.NcclMultiProcessTest";

    private static String qualified(String name) {
        return name.contains(".") ? name : GpuTestMain.class.getPackageName() + "." + name;
    }

    public static void main(String[] args) {
        var builder = LauncherDiscoveryRequestBuilder.request();
        List<String> only = new ArrayList<>(), excluded = new ArrayList<>();
        for (String a : args) (a.startsWith("!") ? excluded : only).add(qualified(a.replaceFirst("^!", "")));
        if (only.isEmpty())
            builder.selectors(selectPackage(GpuTestMain.class.getPackageName()), selectClass(NCCL_TEST));
        for (String a : only) builder.selectors(selectClass(a));
        if (!excluded.isEmpty())
            builder.filters(ClassNameFilter.excludeClassNamePatterns(
                    excluded.stream().map(java.util.regex.Pattern::quote).toArray(String[]::new)));
        LauncherDiscoveryRequest req = builder.build();
        Launcher launcher = LauncherFactory.create();
        SummaryGeneratingListener listener = new SummaryGeneratingListener();
        launcher.execute(req, listener);
        var s = listener.getSummary();
        PrintWriter out = new PrintWriter(System.out, true);
        s.printFailuresTo(out, 30);
        s.printTo(out);
        if (s.getTestsFoundCount() == 0) {
            out.println("GpuTestMain: no tests found (a packed runtime without jdk.zipfs cannot scan jars)");
            System.exit(1);
        }
        System.exit(s.getTotalFailureCount() > 0 ? 1
                : s.getTestsSkippedCount() + s.getContainersSkippedCount() + s.getTestsAbortedCount()
                        + s.getContainersAbortedCount() > 0 ? 2 : 0);
    }
}
